#!/bin/sh
# Benchmarks berth serve's pull-through cache against Debian's docker-registry in proxy mode, both
# in front of the same upstream (a plain docker-registry on loopback, its access log counting what
# reaches it), in one run: cold and warm skopeo pulls of an image of LAYERS gzip layers x LAYER_MIB
# MiB and of a 3-platform index, beside skopeo pulling the same straight from the upstream (the
# limit of a cold pull) and from a plain berth serve holding the image (what a warm pull should
# match); upstream requests and bytes per pull; the cold pulls again with the upstream behind an
# emulated wide-area link (LINK_RTT_MS round trip, LINK_MB_S, as a registry on the internet is: the
# line is then the limit); then CLIENTS clients pulling the cold image at once (upstream bytes:
# berth fetches once, docker-registry per client). The digests every pull produced are checked
# equal to the upstream's before any ratio is printed.
#   scripts/bench/cache.sh
#   LAYERS=4 LAYER_MIB=16 ROUNDS=5 CLIENTS=10 LINK_RTT_MS=40 LINK_MB_S=100 scripts/bench/cache.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev libcrypt-dev libssl-dev skopeo docker-registry python3 time curl
swift build -c release --static-swift-stdlib --product berth >&2
exec python3 scripts/bench/cache.py
