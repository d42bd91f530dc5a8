#!/usr/bin/env python3
"""berth serve against docker-registry on the same S3 (moto), in one run. Called by scale.sh.
Then REPLICAS (3) berth servers on one bucket and one PostgreSQL database behind HAProxy against
docker-registry behind the same HAProxy.

Each round makes a fresh image (tars of random bytes gzip-compressed: real tar+gzip layers that
do not shrink), pushes it with skopeo to both registries (alternating which goes first), pulls it back
from both into fresh OCI layouts, and checks that both registries serve the same manifest digest
and that both pulls hold the same blobs; only then are times compared. The limit is how long moto
takes to receive the same layers as parallel signed PUTs (curl), and to send them back (parallel
GETs): what the S3 endpoint allows with no registry in between."""
import hashlib, http.client, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request, uuid

from benchlib import BERTH, ROUNDS, clear_skopeo_cache, free_port, servers, stop, tar_gzip_layer, timed, wait_up, work, write_layout

LAYERS = int(os.environ.get("LAYERS", "8"))
LAYER_MIB = int(os.environ.get("LAYER_MIB", "32"))
BIG_MIB = int(os.environ.get("BIG_MIB", "1024"))
BIG_ROUNDS = int(os.environ.get("BIG_ROUNDS", "3"))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "8"))
REPLICAS = int(os.environ.get("REPLICAS", "3"))
# PHASES=replicas skips the single-server comparison (its berth then only serves the SQLite rate).
PHASES = os.environ.get("PHASES", "single,replicas").split(",")
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def start_moto():
    port = free_port()
    servers.append(subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return f"http://127.0.0.1:{port}"
        except Exception:
            time.sleep(0.1)
    sys.exit("moto's server did not start")


# moto refuses unsigned reads: curl signs with the same keys the registries use.
SIGNED = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "AKIDBENCH:bench-secret"]


def bucket(endpoint):
    name = "bench-" + uuid.uuid4().hex[:12]
    subprocess.run(["curl", "-sSf", *SIGNED, "-X", "PUT", "-o", "/dev/null", f"{endpoint}/{name}"], check=True)
    return name


def registry(kind, endpoint, shared_bucket=None, database=None):
    """One registry on its own bucket (or `shared_bucket`); the same storage.s3 keys for both (10 MiB
    parts, v4 signing); berth's metadata in SQLite, or in PostgreSQL with `database` (a database: section)."""
    port = free_port()
    path = os.path.join(work, f"{kind}-{port}.yml")
    with open(path, "w") as f:
        f.write(f"""version: 0.1
log:
  level: error
storage:
  s3:
    region: us-east-1
    regionendpoint: {endpoint}
    bucket: {shared_bucket or bucket(endpoint)}
    accesskey: AKIDBENCH
    secretkey: bench-secret
    secure: false
    v4auth: true
    chunksize: 10485760
    rootdirectory: /registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
        if kind == "berth" and database:
            f.write(database)
        elif kind == "berth":
            f.write(f"berth:\n  database:\n    path: {work}/berth-{port}/metadata.sqlite\n")
    argv = [BERTH, "serve", "--config", path] if kind == "berth" else ["docker-registry", "serve", path]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers.append(process)
    wait_up(port)
    return f"127.0.0.1:{port}", process


def peak_rss_mib(process):
    """The server's high-water resident set (VmHWM), read while it still runs."""
    with open(f"/proc/{process.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def manifest_digest(registry, repo):
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{registry}/{repo}"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def request(registry, method, path, body=None, length=0, headers=None):
    host, port = registry.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=1800)
    conn.putrequest(method, path)
    for name, value in dict(headers or {}, **{"Content-Length": str(length)}).items():
        conn.putheader(name, value)
    conn.endheaders()
    if body:
        while chunk := body.read(1 << 20):
            conn.send(chunk)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def big_upload(registry, repo, path, digest, size, chunked):
    """POST, then either one PATCH with the whole blob and a timed empty closing PUT (`chunked`:
    what the commit costs), or one PUT carrying the whole blob (a monolithic push, timed whole).
    Returns seconds and checks the registry then serves the blob under `digest` with its size."""
    start = time.monotonic()
    location = request(registry, "POST", f"/v2/{repo}/blobs/uploads/").getheader("Location")
    location = location.split("://", 1)[-1].split("/", 1)[-1]
    location = "/" + location
    separator = "&" if "?" in location else "?"
    with open(path, "rb") as body:
        if chunked:
            patch = request(registry, "PATCH", location, body, size, {"Content-Type": "application/octet-stream"})
            if patch.status != 202:
                sys.exit(f"PATCH to {registry}: {patch.status}")
            location = "/" + patch.getheader("Location").split("://", 1)[-1].split("/", 1)[-1]
            separator = "&" if "?" in location else "?"
            start = time.monotonic()
            put = request(registry, "PUT", f"{location}{separator}digest={digest}")
        else:
            put = request(registry, "PUT", f"{location}{separator}digest={digest}", body, size, {"Content-Type": "application/octet-stream"})
    elapsed = time.monotonic() - start
    if put.status != 201:
        sys.exit(f"closing PUT to {registry}: {put.status}")
    head = request(registry, "HEAD", f"/v2/{repo}/blobs/{digest}")
    if head.status == 307:  # distribution redirects HEADs too: ask the object store
        head = urllib.request.urlopen(urllib.request.Request(head.getheader("Location"), method="HEAD"))
    if head.status != 200 or head.getheader("Content-Length") != str(size):
        sys.exit(f"{registry} does not serve {digest} with {size} bytes after the push")
    return elapsed


def manifest_rate(registry, repo):
    """Manifest GETs by tag per second (wrk, 2 threads, 16 connections)."""
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{WRK_SECONDS}s", "-H", f"Accept: {MANIFEST_ACCEPT}",
                          f"http://{registry}/v2/{repo}/manifests/v1"], capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        sys.exit(f"manifest GETs on {registry} failed:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def start_postgres():
    """A throwaway PostgreSQL 15 cluster on loopback with default (durable) settings, initialised
    as the postgres user when run as root (initdb refuses root); returns a database: section."""
    bindir = "/usr/lib/postgresql/15/bin"
    # Its own directory: the work directory is private to root, and the cluster runs as postgres.
    base = tempfile.mkdtemp(prefix="berth-bench-pg-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.makedirs(os.path.join(base, "sock"))
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if owner:
        subprocess.run(["chown", "-R", "postgres:postgres", base], check=True)
    data, port = os.path.join(base, "data"), free_port()
    subprocess.run(owner + [f"{bindir}/initdb", "-D", data, "-U", "berth", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, stdout=subprocess.DEVNULL)
    servers.append(subprocess.Popen(owner + [f"{bindir}/postgres", "-D", data, "-k", os.path.join(base, "sock"), "-p", str(port),
                                             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _ in range(300):
        if subprocess.run([f"{bindir}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
            break
        time.sleep(0.1)
    else:
        sys.exit("PostgreSQL did not start")
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "berth", "-d", "postgres", "-qc", "CREATE DATABASE berth"], check=True)
    return f"database:\n  enabled: true\n  host: 127.0.0.1\n  port: {port}\n  user: berth\n  dbname: berth\n  sslmode: disable\n", data


def stop_postgres(data):
    """The postmaster by its pid file (a wrapper process would not pass the signal on), then its files."""
    with open(os.path.join(data, "postmaster.pid")) as f:
        pid = int(f.readline())
    os.kill(pid, 2)
    for _ in range(300):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)


def balancer(berth_replicas, distribution_address):
    """HAProxy on loopback, round robin over the replicas with no stickiness, and a second
    frontend passing through to docker-registry, so both are measured behind the same proxy."""
    front, single = free_port(), free_port()
    path = os.path.join(work, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(f"""global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend berth
  bind 127.0.0.1:{front}
  default_backend replicas
frontend distribution
  bind 127.0.0.1:{single}
  default_backend distribution
backend replicas
  balance roundrobin
""" + "".join(f"  server r{i} {address}\n" for i, address in enumerate(berth_replicas)) + f"""backend distribution
  server d {distribution_address}
""")
    servers.append(subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_up(front)
    wait_up(single)
    return f"127.0.0.1:{front}", f"127.0.0.1:{single}"


def replicas_phase(endpoint, distribution_address, sqlite_rate):
    """REPLICAS berth servers sharing one bucket and one PostgreSQL database behind HAProxy against
    docker-registry behind the same HAProxy: skopeo push and pull (digests checked equal), manifest
    GETs through the balancer, one replica's manifest rate on PostgreSQL beside berth's on SQLite."""
    database, data = start_postgres()
    shared = bucket(endpoint)
    replicas = [registry("berth", endpoint, shared_bucket=shared, database=database) for _ in range(REPLICAS)]
    berth_front, distribution_front = balancer([address for address, _ in replicas], distribution_address)
    targets = {"berth x%d" % REPLICAS: berth_front, "docker-registry": distribution_front}
    results = {name: {"push": [], "pull": []} for name in targets}
    try:
        for round in range(ROUNDS):
            push_and_pull(targets, results, round, "rep")
        berth_name = "berth x%d" % REPLICAS
        rates = {name: manifest_rate(targets[name], "rep/r0") for name in targets}
        one_on_postgres = manifest_rate(replicas[0][0], "rep/r0")
        print(f"{REPLICAS} berth replicas (one bucket, one PostgreSQL database) behind HAProxy round robin, against "
              f"docker-registry behind the same HAProxy; {ROUNDS} rounds, same image format, digests checked equal", flush=True)
        for op in ["push", "pull"]:
            b, d = statistics.median(results[berth_name][op]), statistics.median(results["docker-registry"][op])
            print(f"skopeo {op} through the balancer: {berth_name} {spread(results[berth_name][op])}  "
                  f"docker-registry {spread(results['docker-registry'][op])}  speed {d / b:4.2f}x", flush=True)
        print(f"manifest GET by tag through the balancer, wrk {WRK_SECONDS} s x 16 connections: {berth_name} "
              f"{rates[berth_name]:.0f}/s  docker-registry {rates['docker-registry']:.0f}/s  "
              f"ratio {rates[berth_name] / rates['docker-registry']:.1f}x", flush=True)
        print(f"manifest GET by tag on one replica, metadata in PostgreSQL: {one_on_postgres:.0f}/s; berth on SQLite "
              f"(first part): {sqlite_rate:.0f}/s; PostgreSQL at {100 * one_on_postgres / sqlite_rate:.0f}% of SQLite", flush=True)
        print("peak RSS per replica: " + ", ".join(f"{peak_rss_mib(process):.0f} MiB" for _, process in replicas), flush=True)
    finally:
        stop_postgres(data)


def push_and_pull(targets, results, round, prefix):
    """One round: a fresh image of real gzip layers pushed with skopeo to every target and pulled
    back (alternating which goes first), times appended to `results`; exits unless every target
    served the same manifest digest and every pull holds the same blobs. Returns the layers."""
    layers = [tar_gzip_layer(LAYER_MIB << 20) for _ in range(LAYERS)]
    src = os.path.join(work, f"src-{prefix}-{round}")
    write_layout(src, layers, {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z"})
    order = list(targets) if round % 2 == 0 else list(reversed(targets))
    digests, pulled = {}, {}
    for name in order:
        clear_skopeo_cache()
        subprocess.run(["sync"])
        seconds, _ = timed(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{src}:bench",
                              f"docker://{targets[name]}/{prefix}/r{round}:v1"])
        results[name]["push"].append(seconds)
        digests[name] = manifest_digest(targets[name], f"{prefix}/r{round}:v1")
    for name in order:
        out = os.path.join(work, f"out-{prefix}-{round}-{name.split()[0]}")
        clear_skopeo_cache()
        seconds, _ = timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{targets[name]}/{prefix}/r{round}:v1", f"oci:{out}:bench"])
        results[name]["pull"].append(seconds)
        pulled[name] = tuple(sorted(os.listdir(os.path.join(out, "blobs", "sha256"))))
    if len(set(digests.values())) != 1 or len(set(pulled.values())) != 1:
        sys.exit(f"the registries disagree, no ratio: manifests {digests}")
    return layers


def parallel(argvs):
    start = time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for argv in argvs]
    failed = [proc.stderr.read().decode() for proc in procs if proc.wait() != 0]
    if failed:
        sys.exit(f"{argvs[0][0]} against moto failed: {failed[0]}")
    return time.monotonic() - start


def spread(samples):
    return f"{statistics.median(samples):6.2f} s ({min(samples):.2f}-{max(samples):.2f})"


def main():
    try:
        endpoint = start_moto()
        started = {"berth": registry("berth", endpoint), "docker-registry": registry("distribution", endpoint)}
        targets = {name: address for name, (address, _) in started.items()}
        if "single" not in PHASES:
            push_and_pull({"berth": targets["berth"]}, {"berth": {"push": [], "pull": []}}, 0, "bench")
            replicas_phase(endpoint, targets["docker-registry"], manifest_rate(targets["berth"], "bench/r0"))
            return
        results = {name: {"push": [], "pull": []} for name in targets}
        limits = {"push": [], "pull": []}
        for round in range(ROUNDS):
            layers = push_and_pull(targets, results, round, "bench")
            # The limit: moto taking and giving the same bytes with nothing in between.
            files = []
            for i, data in enumerate(layers):
                files.append(os.path.join(work, f"limit-{round}-{i}"))
                with open(files[-1], "wb") as f:
                    f.write(data)
            target = bucket(endpoint)
            limits["push"].append(parallel([["curl", "-sSf", *SIGNED, "-T", p, f"{endpoint}/{target}/{os.path.basename(p)}"] for p in files]))
            limits["pull"].append(parallel([["curl", "-sSf", *SIGNED, "-o", "/dev/null", f"{endpoint}/{target}/{os.path.basename(p)}"] for p in files]))
        # One big blob, chunked (commit timed) and monolithic, the same bytes to both registries.
        big = {"commit": {n: [] for n in targets}, "monolithic": {n: [] for n in targets}}
        for round in range(BIG_ROUNDS):
            path = os.path.join(work, f"big-{round}")
            hasher = hashlib.sha256()
            with open(path, "wb") as f:
                for _ in range(BIG_MIB):
                    chunk = os.urandom(1 << 20)
                    hasher.update(chunk)
                    f.write(chunk)
            digest, size = "sha256:" + hasher.hexdigest(), BIG_MIB << 20
            order = list(targets) if round % 2 == 0 else list(reversed(targets))
            for name in order:
                big["commit"][name].append(big_upload(targets[name], f"big/c{round}", path, digest, size, chunked=True))
            for name in order:
                big["monolithic"][name].append(big_upload(targets[name], f"big/m{round}", path, digest, size, chunked=False))
            os.remove(path)
        rates = {name: manifest_rate(targets[name], "bench/r0") for name in targets}
        mib = sum(len(layer) for layer in layers) / (1 << 20)
        print(f"{LAYERS} tar+gzip layers x {LAYER_MIB} MiB, {ROUNDS} rounds, median (min-max); each round both registries "
              f"served the same manifest digest and both pulls held the same blobs", flush=True)
        for op in ["push", "pull"]:
            b, d, limit = (statistics.median(results["berth"][op]), statistics.median(results["docker-registry"][op]),
                           statistics.median(limits[op]))
            print(f"skopeo {op}: berth {spread(results['berth'][op])}  docker-registry {spread(results['docker-registry'][op])}  "
                  f"speed {d / b:4.2f}x | limit: moto alone {limit:.2f} s ({mib / limit:.0f} MiB/s); berth at "
                  f"{100 * limit / b:.0f}%, docker-registry at {100 * limit / d:.0f}% of it", flush=True)
        for kind, what in [("monolithic", f"{BIG_MIB} MiB blob, one PUT"), ("commit", f"closing PUT of a {BIG_MIB} MiB chunked upload")]:
            b, d = statistics.median(big[kind]["berth"]), statistics.median(big[kind]["docker-registry"])
            print(f"{what} ({BIG_ROUNDS} rounds): berth {spread(big[kind]['berth'])}  docker-registry "
                  f"{spread(big[kind]['docker-registry'])}  speed {d / b:5.2f}x", flush=True)
        print(f"manifest GET by tag, wrk {WRK_SECONDS} s x 16 connections: berth {rates['berth']:.0f}/s  "
              f"docker-registry {rates['docker-registry']:.0f}/s  ratio {rates['berth'] / rates['docker-registry']:.1f}x "
              f"(same manifest digest checked above)", flush=True)
        print(f"server peak RSS: berth {peak_rss_mib(started['berth'][1]):.0f} MiB, "
              f"docker-registry {peak_rss_mib(started['docker-registry'][1]):.0f} MiB", flush=True)
        if REPLICAS > 0 and "replicas" in PHASES:
            replicas_phase(endpoint, targets["docker-registry"], rates["berth"])
    finally:
        stop()


main()
