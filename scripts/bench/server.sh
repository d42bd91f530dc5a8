#!/bin/sh
# Benchmarks `berth serve` against Debian's docker-registry (CNCF distribution) on loopback, same
# disk, same work, one run. Prints one line per measure: berth, docker-registry, ratio (>1 = berth better),
# then what authentication costs each (manifest GETs behind htpasswd and behind tokens).
# Before any ratio, both servers must have answered the same: the blob's bytes hash to its digest
# on both, the manifest, tag list and HEAD answers are identical. Blob transfers print their limit:
# the same blob sent over loopback with sendfile (scripts/bench/loopback.py), and written to the
# same disk with O_DIRECT and synced — and how close each server gets to it.
#   scripts/bench/server.sh            # 1 GiB blob, 8 s of wrk per endpoint
#   BLOB_MIB=256 WRK_SECONDS=4 scripts/bench/server.sh
set -eu
cd "$(dirname "$0")/../.."
. scripts/lib/debian-packages.sh
ensure_packages libsqlite3-dev zlib1g-dev libzstd-dev libgpgme-dev libcrypt-dev docker-registry wrk hey curl python3 bc apache2-utils openssl
BLOB_MIB=${BLOB_MIB:-1024}
WRK_SECONDS=${WRK_SECONDS:-8}
swift build -c release --static-swift-stdlib --product berth >&2

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-bench.XXXXXX")
BERTH_PORT=15000
DIST_PORT=15001
SEND_PORT=15003
cleanup() {
    [ -n "${BERTH_PID:-}" ] && kill "$BERTH_PID" 2>/dev/null || true
    [ -n "${DIST_PID:-}" ] && kill "$DIST_PID" 2>/dev/null || true
    [ -n "${SEND_PID:-}" ] && kill "$SEND_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

sed -e "s|@ROOT@|$WORK/distribution|" -e "s|@PORT@|$DIST_PORT|" testdata/docker-registry.yml > "$WORK/distribution.yml"
# wait_up PORT: until the registry answers /v2/ (200, or 401 behind authentication).
wait_up() {
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/")" = 200 ] ||
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/")" = 401 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "registry on $1 did not start" >&2; exit 1; }
        sleep 0.1
    done
}
# start_berth [CONFIG]: the default config, or CONFIG appended to the same storage settings.
# Access logs off on both sides: distribution's is disabled in its template, berth logs requests at info.
start_berth() {
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n%s\n' \
        "$WORK/berth" "$BERTH_PORT" "${1:-}" > "$WORK/berth.yml"
    .build/release/berth serve --config "$WORK/berth.yml" 2>>"$WORK/berth.log" &
    BERTH_PID=$!
    wait_up $BERTH_PORT
}
start_distribution() {
    { cat "$WORK/distribution.yml"; printf '%s\n' "${1:-}"; } > "$WORK/distribution-run.yml"
    docker-registry serve "$WORK/distribution-run.yml" 2>>"$WORK/distribution.log" &
    DIST_PID=$!
    wait_up $DIST_PORT
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
start_berth
start_distribution

echo "generating a $BLOB_MIB MiB blob" >&2
head -c "$((BLOB_MIB * 1024 * 1024))" /dev/urandom > "$WORK/blob"
DIGEST="sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)"

# The floors. Pull: the same blob sent by sendfile over loopback, no registry in between. Push:
# the disk — the same bytes written with O_DIRECT and synced (dd), since loopback carries them
# faster than the disk takes them; a receiver in Python that lets the page cache fill before one
# fdatasync was slower than berth, which writes back while it receives, so it was no floor.
python3 scripts/bench/loopback.py serve "$WORK/blob" $SEND_PORT > "$WORK/send.ready" &
SEND_PID=$!
i=0
until grep -q ready "$WORK/send.ready"; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "the loopback floor server did not start" >&2; exit 1; }
    sleep 0.1
done
limit_push_time() {
    start=$(date +%s.%N)
    dd if="$WORK/blob" of="$WORK/floor-write" bs=4M oflag=direct conv=fdatasync status=none
    end=$(date +%s.%N)
    rm -f "$WORK/floor-write"
    echo "$end - $start" | bc -l
}
limit_pull_time() { curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$SEND_PORT/blob"; }

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

row() { # name berth peer higher-is-better(1|0) unit [limit]
    python3 -c "
import sys
name, b, d, higher, unit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == '1', sys.argv[5]
ratio = (b / d if higher else d / b) if b and d else float('nan')
line = f'{name:<34} berth {b:>10.1f} {unit:<6} docker-registry {d:>10.1f} {unit:<6} ratio {ratio:6.2f}x'
if len(sys.argv) > 6:
    limit = float(sys.argv[6])
    line += f'   limit {limit:.1f} {unit}: berth {100 * b / limit:.0f}%, docker-registry {100 * d / limit:.0f}% of it'
print(line)
" "$@"
}
# same_answer WHAT BERTH-OUTPUT DIST-OUTPUT: stop before any ratio when the servers answered differently.
same_answer() {
    [ "$2" = "$3" ] || { echo "$1 differs between berth and docker-registry (berth: $2; docker-registry: $3): no ratio" >&2; exit 1; }
}

# Three rounds, each push after a sync so neither server inherits the other's dirty pages; the
# median counts.
median() { tr ' ' '\n' | sort -n | sed -n 2p; }
BP=""; DP=""; BL=""; DL=""; LP=""; LL=""
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
    sync; LP="$LP $(limit_push_time)"
    sync; LL="$LL $(limit_pull_time)"
done
served_digest() { echo "sha256:$(curl -sf "http://127.0.0.1:$1/v2/bench/big/blobs/$DIGEST" | sha256sum | cut -d' ' -f1)"; }
same_answer "the pushed blob's digest" "$(served_digest $BERTH_PORT)" "$DIGEST"
same_answer "the pushed blob's digest" "$(served_digest $DIST_PORT)" "$DIGEST"
LIMIT_PUSH=$(echo $LP | median); LIMIT_PULL=$(echo $LL | median)
BERTH_PUSH=$(echo $BP | median); DIST_PUSH=$(echo $DP | median)
BERTH_PULL=$(echo $BL | median); DIST_PULL=$(echo $DL | median)
BERTH_RSS=$(peak_rss_mib $BERTH_PID)
DIST_RSS=$(peak_rss_mib $DIST_PID)
MIB=$BLOB_MIB
row "push ${MIB} MiB blob (monolithic)" "$(echo "$MIB / $BERTH_PUSH" | bc -l)" "$(echo "$MIB / $DIST_PUSH" | bc -l)" 1 MiB/s \
    "$(echo "$MIB / $LIMIT_PUSH" | bc -l)"
row "pull ${MIB} MiB blob" "$(echo "$MIB / $BERTH_PULL" | bc -l)" "$(echo "$MIB / $DIST_PULL" | bc -l)" 1 MiB/s \
    "$(echo "$MIB / $LIMIT_PULL" | bc -l)"
echo "  (seconds per round — push: berth$BP, docker-registry$DP, floor$LP; pull: berth$BL, docker-registry$DL, floor$LL)"
row "peak RSS (pushes and pulls)" "$BERTH_RSS" "$DIST_RSS" 0 MiB

echo "seeding an image and 1000 tags on each" >&2
python3 scripts/bench/seed.py $BERTH_PORT $DIST_PORT

cat > "$WORK/manifest.lua" <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
LUA
rps() { # port path script [Authorization value]
    if [ "$3" = HEAD ]; then
        # wrk (and ab -k) wait for a body after HEAD and stall, so hey measures HEAD (keep-alive).
        hey -m HEAD -c 32 -z "${WRK_SECONDS}s" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
    elif [ -n "${4:-}" ]; then
        wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$3" -H "Authorization: $4" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
    else
        wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$3" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'
    fi
}
CONFIG_DIGEST=$(python3 scripts/bench/seed.py --config-digest)
# answer PORT PATH [HEAD]: what a client sees (body digest, or the HEAD's digest header and length).
answer() {
    if [ "${3:-}" = HEAD ]; then
        curl -sfI "http://127.0.0.1:$1$2" | tr -d '\r' | grep -iE '^(docker-content-digest|content-length):' | tr 'A-Z' 'a-z' | sort | tr '\n' ' '
    else
        curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$1$2" | python3 -c '
import hashlib, json, sys
body = sys.stdin.buffer.read()
try:
    document = json.loads(body)
except ValueError:
    document = None
# A tag list is a set: the servers may order it differently.
if isinstance(document, dict) and "tags" in document:
    body = json.dumps({"name": document["name"], "tags": sorted(document["tags"])}).encode()
print(hashlib.sha256(body).hexdigest(), len(body))'
    fi
}
# Small requests have no floor here: wrk shares the two cores with the server it loads.
for measure in "manifest GET by tag|/v2/bench/app/manifests/latest|manifest.lua" \
    "blob HEAD|/v2/bench/app/blobs/$CONFIG_DIGEST|HEAD" \
    "tags/list (1000 tags)|/v2/bench/tags/tags/list|manifest.lua"; do
    name=${measure%%|*}; rest=${measure#*|}; path=${rest%%|*}; script=${rest#*|}
    same_answer "$name" "$(answer $BERTH_PORT "$path" "$script")" "$(answer $DIST_PORT "$path" "$script")"
    [ "$script" = HEAD ] || script=$WORK/$script
    b=$(rps $BERTH_PORT "$path" "$script")
    d=$(rps $DIST_PORT "$path" "$script")
    row "$name" "$b" "$d" 1 req/s
done

# The same manifest GET with no authentication, behind htpasswd (bcrypt) and behind tokens, each
# from a fresh start, in AUTH_ROUNDS rounds (default 5) whose order rotates; medians count.
# Throughput varies by ±20 % between runs here (the load generator shares the two cores), so the
# server's own CPU time per request (utime + stime from /proc over the requests wrk completed) is
# printed too. Both registries trust the same token: berth's built-in token server issues it and
# distribution checks it by certificate.
echo "authentication: restarting both open, behind htpasswd, behind tokens (${AUTH_ROUNDS:-5} rounds)" >&2
htpasswd -cbB "$WORK/htpasswd" bench bench-pass 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-token \
    -keyout "$WORK/token.key" -out "$WORK/token.pem" 2>/dev/null
MANIFEST=/v2/bench/app/manifests/latest
BASIC="Basic $(printf bench:bench-pass | base64)"
HTPASSWD="auth:
  htpasswd:
    realm: bench
    path: $WORK/htpasswd"
TOKEN_BERTH="berth:
  tokenserver:
    htpasswd: $WORK/htpasswd
    key: $WORK/token.key
    service: bench
    expiration: 1h
    access:
      - users: [bench]
        repositories: [\"**\"]
        actions: [pull]"
TOKEN_DIST="auth:
  token:
    realm: http://127.0.0.1:$BERTH_PORT/auth/token
    service: bench
    issuer: berth
    rootcertbundle: $WORK/token.pem"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure PORT PID [Authorization]: "requests/s server-CPU-microseconds-per-request"
measure() {
    before=$(cpu_ticks "$2")
    if [ -n "${3:-}" ]; then
        out=$(wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$WORK/manifest.lua" -H "Authorization: $3" "http://127.0.0.1:$1$MANIFEST")
    else
        out=$(wrk -t2 -c32 -d"${WRK_SECONDS}s" -s "$WORK/manifest.lua" "http://127.0.0.1:$1$MANIFEST")
    fi
    after=$(cpu_ticks "$2")
    echo "$out" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        '/requests in/ {n = $1} /Requests\/sec/ {rps = $2} END {printf "%s %.2f\n", rps, ticks / hz * 1e6 / n}'
}
# median "rps cpu" lines on stdin → "median-rps median-cpu"
medians() { python3 -c "
import statistics, sys
rows = [tuple(map(float, line.split())) for line in sys.stdin if line.strip()]
print(statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))"; }
BO=""; BB=""; BT=""; DO=""; DB=""; DT=""
measure_open() {
    stop $BERTH_PID; stop $DIST_PID
    start_berth; start_distribution
    BO="$BO
$(measure $BERTH_PORT $BERTH_PID)"
    DO="$DO
$(measure $DIST_PORT $DIST_PID)"
}
measure_htpasswd() {
    stop $BERTH_PID; stop $DIST_PID
    start_berth "$HTPASSWD"; start_distribution "$HTPASSWD"
    BB="$BB
$(measure $BERTH_PORT $BERTH_PID "$BASIC")"
    DB="$DB
$(measure $DIST_PORT $DIST_PID "$BASIC")"
}
measure_tokens() {
    stop $BERTH_PID; stop $DIST_PID
    start_berth "$TOKEN_BERTH"; start_distribution "$TOKEN_DIST"
    TOKEN=$(curl -sf -u bench:bench-pass "http://127.0.0.1:$BERTH_PORT/auth/token?service=bench&scope=repository:bench/app:pull" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    BT="$BT
$(measure $BERTH_PORT $BERTH_PID "Bearer $TOKEN")"
    DT="$DT
$(measure $DIST_PORT $DIST_PID "Bearer $TOKEN")"
}
round=0
while [ $round -lt "${AUTH_ROUNDS:-5}" ]; do
    case $((round % 3)) in
        0) measure_open; measure_htpasswd; measure_tokens ;;
        1) measure_htpasswd; measure_tokens; measure_open ;;
        2) measure_tokens; measure_open; measure_htpasswd ;;
    esac
    round=$((round + 1))
done
BO=$(echo "$BO" | medians); BB=$(echo "$BB" | medians); BT=$(echo "$BT" | medians)
DO=$(echo "$DO" | medians); DB=$(echo "$DB" | medians); DT=$(echo "$DT" | medians)
first() { echo "${1%% *}"; }
second() { echo "${1#* }"; }
row "manifest GET, no authentication" "$(first "$BO")" "$(first "$DO")" 1 req/s
row "manifest GET behind htpasswd" "$(first "$BB")" "$(first "$DB")" 1 req/s
row "manifest GET behind tokens" "$(first "$BT")" "$(first "$DT")" 1 req/s
row "server CPU per GET, no auth" "$(second "$BO")" "$(second "$DO")" 0 us
row "server CPU per GET, htpasswd" "$(second "$BB")" "$(second "$DB")" 0 us
row "server CPU per GET, tokens" "$(second "$BT")" "$(second "$DT")" 0 us
python3 -c "
import sys
for name, open_, basic, token in (('berth', *sys.argv[1:4]), ('docker-registry', *sys.argv[4:7])):
    o, b, t = (float(v.split()[1]) for v in (open_, basic, token))
    ro, rb, rt = (float(v.split()[0]) for v in (open_, basic, token))
    print(f'authentication cost ({name:<15}) htpasswd {100 * (1 - rb / ro):5.1f}%   tokens {100 * (1 - rt / ro):5.1f}%  of throughput;'
          f'  CPU per request {100 * (b / o - 1):+5.1f}% / {100 * (t / o - 1):+5.1f}%')
" "$BO" "$BB" "$BT" "$DO" "$DB" "$DT"
