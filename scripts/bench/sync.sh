#!/bin/sh
# Benchmarks `berth sync` against `skopeo sync`: 20 repositories x 3 tags of small images sharing
# base layers in a docker-registry, synced into a second docker-registry and into a dir tree,
# then the second run over the unchanged source. Prints time, peak RSS and ratios.
#   scripts/bench/sync.sh
#   REPOS=50 ROUNDS=5 scripts/bench/sync.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev skopeo docker-registry python3 time curl
swift build -c release --static-swift-stdlib --product berth >&2
exec python3 scripts/bench/sync.py
