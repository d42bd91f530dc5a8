#!/bin/sh
# Benchmarks `berth run` and `berth unpack` against the bare runtime and umoci on the same
# generated 5-layer busybox image, in one run: `berth run --rm IMAGE busybox sha256sum FILE` vs
# `crun run` of a prepared bundle running the same (berth's overhead per run), and `berth unpack`
# vs `umoci unpack` beside GNU tar extracting the same layers. Both tools' results are compared
# (what the container printed; the unpacked trees) before any ratio. As root.
#   scripts/bench/run.sh
#   ROUNDS=20 FILES=400 scripts/bench/run.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev crun umoci busybox-static python3 time
swift build -c release --static-swift-stdlib --product berth >&2
exec python3 scripts/bench/run.py
