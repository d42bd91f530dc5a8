#!/bin/sh
# Benchmarks berth serve and Debian's docker-registry on the same S3 endpoint (moto's server on
# loopback, one bucket each), in one run: skopeo pushes and pulls of the same image (8 gzip
# layers x 32 MiB by default) through each registry, the digests checked equal before any ratio
# is printed, beside the time moto itself needs to take the same bytes (the limit); a 1 GiB blob
# pushed in one PUT and as a chunked upload whose closing PUT (the commit) is timed; manifest GETs
# by tag per second (wrk); each server's peak RSS. Then REPLICAS (3) berth servers on one bucket and
# one PostgreSQL database behind HAProxy, against docker-registry behind the same HAProxy: skopeo
# push and pull, manifest GETs through the balancer, one replica's rate on PostgreSQL beside SQLite's.
#   scripts/bench/scale.sh
#   LAYERS=4 LAYER_MIB=64 ROUNDS=5 scripts/bench/scale.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev libcrypt-dev libssl-dev skopeo docker-registry python3 time curl wrk \
    postgresql-15 postgresql-client-15 haproxy
ensure_moto
swift build -c release --static-swift-stdlib --product berth >&2
# distribution's S3 driver panics at startup when AWS_CA_BUNDLE is set.
unset AWS_CA_BUNDLE
exec python3 scripts/bench/scale.py
