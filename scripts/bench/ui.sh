#!/bin/sh
# Measures the web UI's page rates (wrk) on a release build, beside the registry's own manifest
# GET rate on the same server and loopback (the limit a page could approach), and each page's
# time with one connection (what a person waits for, server time + loopback). The pages are
# checked first (ui_seed.py): 100 rows of bench/many's 1,000 tags, the list of 10,001
# repositories paged on the server, an image page.
#   scripts/bench/ui.sh            # 6 s of wrk per page, 3 rounds
#   WRK_SECONDS=3 ROUNDS=1 scripts/bench/ui.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev libcrypt-dev libssl-dev wrk curl python3
WRK_SECONDS=${WRK_SECONDS:-6}
ROUNDS=${ROUNDS:-3}
swift build -c release --static-swift-stdlib --product berth >&2

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-ui-bench.XXXXXX")
PORT=15010
cleanup() {
    [ -n "${BERTH_PID:-}" ] && kill "$BERTH_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nberth:\n  ui:\n    enabled: true\n' \
    "$WORK/data" "$PORT" > "$WORK/config.yml"
.build/release/berth serve --config "$WORK/config.yml" 2>>"$WORK/berth.log" &
BERTH_PID=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/")" = 200 ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "berth did not start" >&2; exit 1; }
    sleep 0.1
done
python3 scripts/bench/ui_seed.py "$PORT"

# rate PATH: requests/s with 2 threads, 16 connections; latency PATH: mean ms with one connection.
rate() { wrk -t2 -c16 -d"${WRK_SECONDS}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$PORT$1" | awk '/Requests\/sec/ {print int($2)}'; }
latency() {
    wrk -t1 -c1 -d"${WRK_SECONDS}s" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$PORT$1" |
        awk '/Latency/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}'
}
echo "date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $ROUNDS round(s) of ${WRK_SECONDS}s, one block per round; rates in requests/s, latency with one connection (ms)"
printf '%-44s %14s %14s %10s\n' "page" "rate" "latency ms" "of limit"
for round in $(seq "$ROUNDS"); do
    LIMIT=$(rate /v2/bench/many/manifests/t0500)
    printf '%-44s %14s %14s %10s\n' "limit: GET /v2/bench/many/manifests/t0500" "$LIMIT" "$(latency /v2/bench/many/manifests/t0500)" "100%"
    for page in "/ui/repositories/bench/many" "/ui/repositories/bench/many?sort=name" "/ui/?sort=name" "/ui/?sort=pushed&page=100" \
        "/ui/image/bench/many?ref=t0500" "/ui/search?q=t050"; do
        R=$(rate "$page")
        printf '%-44s %14s %14s %9s%%\n' "$page" "$R" "$(latency "$page")" "$(awk -v r="$R" -v l="$LIMIT" 'BEGIN {printf "%.1f", r * 100 / l}')"
    done
done
