#!/bin/sh
# Benchmarks berth against podman (Debian's 4.3, runc, vfs storage as it defaults to here) on
# what issue 17 names, without root: `run --rm IMAGE true`, `run -d` until the container runs,
# `stop`, and `exec CONTAINER true`, on the same busybox image loaded into both first. Runs as root
# only to make a throwaway user with a subordinate range (removed at the end); both tools then run
# as that user. Each tool's output is checked (same exit status, the container printed the same)
# before any ratio is printed.
#   scripts/bench/lifecycle.sh
#   ROUNDS=10 scripts/bench/lifecycle.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev podman runc crun uidmap catatonit busybox-static python3
swift build -c release --static-swift-stdlib --product berth >&2
exec python3 scripts/bench/lifecycle.py
