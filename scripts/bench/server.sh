#!/bin/sh
# Benchmarks `berth serve` against Debian's docker-registry (CNCF distribution) on loopback, same
# disk, same work, one run. Prints one line per measure: berth, docker-registry, ratio (>1 = berth better).
#   scripts/bench/server.sh            # 1 GiB blob, 8 s of wrk per endpoint
#   BLOB_MIB=256 WRK_SECONDS=4 scripts/bench/server.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev docker-registry wrk hey curl python3 bc
BLOB_MIB=${BLOB_MIB:-1024}
WRK_SECONDS=${WRK_SECONDS:-8}
swift build -c release --static-swift-stdlib --product berth >&2

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-bench.XXXXXX")
BERTH_PORT=15000
DIST_PORT=15001
cleanup() {
    [ -n "${BERTH_PID:-}" ] && kill "$BERTH_PID" 2>/dev/null || true
    [ -n "${DIST_PID:-}" ] && kill "$DIST_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

sed -e "s|@ROOT@|$WORK/distribution|" -e "s|@PORT@|$DIST_PORT|" testdata/docker-registry.yml > "$WORK/distribution.yml"
# Access logs off on both sides: distribution's is disabled above, berth logs requests at info.
REGISTRY_LOG_LEVEL=warn REGISTRY_HTTP_ADDR=127.0.0.1:$BERTH_PORT REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$WORK/berth" \
    .build/release/berth serve --config registry-config/config.yml 2>"$WORK/berth.log" &
BERTH_PID=$!
docker-registry serve "$WORK/distribution.yml" 2>"$WORK/distribution.log" &
DIST_PID=$!
for port in $BERTH_PORT $DIST_PORT; do
    i=0
    until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "registry on $port did not start" >&2; exit 1; }
        sleep 0.1
    done
done

echo "generating a $BLOB_MIB MiB blob" >&2
head -c "$((BLOB_MIB * 1024 * 1024))" /dev/urandom > "$WORK/blob"
DIGEST="sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)"

# push_time PORT: POST a session, PUT the whole blob (the monolithic flow both servers support).
push_time() {
    location=$(curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:$1/v2/bench/big/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case "$location" in http*) ;; *) location="http://127.0.0.1:$1$location" ;; esac
    case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -sf -H 'Content-Type: application/octet-stream' -T "$WORK/blob" \
        -o /dev/null -w '%{time_total}' "$location${sep}digest=$DIGEST"
}
pull_time() {
    curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$1/v2/bench/big/blobs/$DIGEST"
}
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

row() { # name berth peer higher-is-better(1|0) unit
    python3 -c "
import sys
name, b, d, higher, unit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == '1', sys.argv[5]
ratio = (b / d if higher else d / b) if b and d else float('nan')
print(f'{name:<34} berth {b:>10.1f} {unit:<6} docker-registry {d:>10.1f} {unit:<6} ratio {ratio:6.2f}x')
" "$@"
}

# Three rounds, each push after a sync so neither server inherits the other's dirty pages; the
# median counts.
median() { tr ' ' '\n' | sort -n | sed -n 2p; }
BP=""; DP=""; BL=""; DL=""
# Pulls also start after a sync (docker-registry leaves its push as dirty pages whose writeback
# would otherwise slow whichever pull comes next), and the order alternates between rounds.
for round in 1 2 3; do
    sync; BP="$BP $(push_time $BERTH_PORT)"
    sync; DP="$DP $(push_time $DIST_PORT)"
    if [ $round = 2 ]; then
        sync; DL="$DL $(pull_time $DIST_PORT)"
        sync; BL="$BL $(pull_time $BERTH_PORT)"
    else
        sync; BL="$BL $(pull_time $BERTH_PORT)"
        sync; DL="$DL $(pull_time $DIST_PORT)"
    fi
done
BERTH_PUSH=$(echo $BP | median); DIST_PUSH=$(echo $DP | median)
BERTH_PULL=$(echo $BL | median); DIST_PULL=$(echo $DL | median)
BERTH_RSS=$(peak_rss_mib $BERTH_PID)
DIST_RSS=$(peak_rss_mib $DIST_PID)
MIB=$BLOB_MIB
row "push ${MIB} MiB blob (monolithic)" "$(echo "$MIB / $BERTH_PUSH" | bc -l)" "$(echo "$MIB / $DIST_PUSH" | bc -l)" 1 MiB/s
row "pull ${MIB} MiB blob" "$(echo "$MIB / $BERTH_PULL" | bc -l)" "$(echo "$MIB / $DIST_PULL" | bc -l)" 1 MiB/s
row "peak RSS (pushes and pulls)" "$BERTH_RSS" "$DIST_RSS" 0 MiB

echo "seeding an image and 1000 tags on each" >&2
python3 scripts/bench/seed.py $BERTH_PORT $DIST_PORT

cat > "$WORK/manifest.lua" <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
LUA
rps() { # port path script
    if [ "$3" = HEAD ]; then
        # wrk (and ab -k) wait for a body after HEAD and stall, so hey measures HEAD (keep-alive).
        hey -m HEAD -c 32 -z "${WRK_SECONDS}s" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
    else
        wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$3" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
    fi
}
CONFIG_DIGEST=$(python3 scripts/bench/seed.py --config-digest)
for measure in "manifest GET by tag|/v2/bench/app/manifests/latest|manifest.lua" \
    "blob HEAD|/v2/bench/app/blobs/$CONFIG_DIGEST|HEAD" \
    "tags/list (1000 tags)|/v2/bench/tags/tags/list|manifest.lua"; do
    name=${measure%%|*}; rest=${measure#*|}; path=${rest%%|*}; script=${rest#*|}
    [ "$script" = HEAD ] || script=$WORK/$script
    b=$(rps $BERTH_PORT "$path" "$script")
    d=$(rps $DIST_PORT "$path" "$script")
    row "$name" "$b" "$d" 1 req/s
done
