#!/bin/sh
# Benchmarks `berth copy` and `berth inspect` against skopeo on the same generated image (8 layers
# x 32 MiB) and the same loopback servers (two docker-registry, two berth serve), in one run;
# skopeo's blob-info cache is cleared before each of its runs. Prints time, peak RSS and ratios.
#   scripts/bench/copy.sh
#   LAYERS=4 LAYER_MIB=64 ROUNDS=5 scripts/bench/copy.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev skopeo docker-registry python3 time curl
swift build -c release --static-swift-stdlib --product berth >&2
exec python3 scripts/bench/registry_copy.py
