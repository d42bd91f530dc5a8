#!/usr/bin/env python3
"""Times `berth copy` against `skopeo copy` on the same image and the same servers, in one run.

Called by scripts/bench/copy.sh, which builds berth and installs the peers. Each scenario runs
ROUNDS times per tool, alternating which tool goes first; the median wall time and the peak RSS
of each tool are printed with the ratio (>1 means berth is faster / smaller).
"""
import hashlib, json, os, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

BERTH = os.path.abspath(".build/release/berth")
LAYERS = int(os.environ.get("LAYERS", "8"))
LAYER_MIB = int(os.environ.get("LAYER_MIB", "32"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
work = tempfile.mkdtemp(prefix="berth-copybench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
servers = []


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port):
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    sys.exit(f"registry on {port} did not start")


def distribution():
    port = free_port()
    root = os.path.join(work, f"distribution-{port}")
    with open("testdata/docker-registry.yml") as f:
        config = f.read().replace("@ROOT@", root).replace("@PORT@", str(port))
    path = os.path.join(work, f"distribution-{port}.yml")
    with open(path, "w") as f:
        f.write(config)
    servers.append(subprocess.Popen(["docker-registry", "serve", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_up(port)
    return f"127.0.0.1:{port}"


def berth_serve():
    port = free_port()
    env = dict(os.environ, REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}", REGISTRY_LOG_LEVEL="warn",
               REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=os.path.join(work, f"berth-{port}"))
    servers.append(subprocess.Popen([BERTH, "serve", "--config", "registry-config/config.yml"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_up(port)
    return f"127.0.0.1:{port}"


def make_layout(path):
    """An OCI layout `bench` with LAYERS random layers of LAYER_MIB MiB (random bytes do not
    compress, so no tool gains by recompressing)."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    layers = [dict(put(os.urandom(LAYER_MIB << 20)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for _ in range(LAYERS)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": dict(put(config), mediaType="application/vnd.oci.image.config.v1+json"),
                           "layers": layers}).encode()
    entry = dict(put(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                 annotations={"org.opencontainers.image.ref.name": "bench"})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def clear_skopeo_cache():
    for path in ["/var/lib/containers/cache", os.path.expanduser("~/.local/share/containers/cache")]:
        shutil.rmtree(path, ignore_errors=True)


def timed(argv):
    """Wall seconds and peak RSS (MiB) of one command, which must succeed. GNU time reports the
    RSS: a child forked from this (large) Python process would inherit its high-water mark."""
    start = time.monotonic()
    process = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {process.stderr.decode()[-500:]}")
    return elapsed, int(process.stderr.decode().strip().splitlines()[-1]) / 1024


counter = [0]


def fresh(template):
    counter[0] += 1
    return template.replace("@N@", str(counter[0]))


def scenario(name, berth_argv, skopeo_argv, before=lambda: None):
    results = {"berth": [], "skopeo": []}
    for round in range(ROUNDS):
        order = ["berth", "skopeo"] if round % 2 == 0 else ["skopeo", "berth"]
        for tool in order:
            before()
            subprocess.run(["sync"])
            if tool == "skopeo":
                clear_skopeo_cache()
                results[tool].append(timed([fresh(a) for a in skopeo_argv]))
            else:
                results[tool].append(timed([fresh(a) for a in berth_argv]))
    b_time = statistics.median(t for t, _ in results["berth"])
    s_time = statistics.median(t for t, _ in results["skopeo"])
    b_rss = max(r for _, r in results["berth"])
    s_rss = max(r for _, r in results["skopeo"])
    print(f"{name:<38} berth {b_time:7.2f} s  skopeo {s_time:7.2f} s  speed {s_time / b_time:5.2f}x   "
          f"peak RSS berth {b_rss:6.1f} MiB  skopeo {s_rss:6.1f} MiB", flush=True)


def main():
    try:
        layout = os.path.join(work, "layout")
        print(f"generating {LAYERS} layers of {LAYER_MIB} MiB", file=sys.stderr)
        make_layout(layout)
        d1, d2, b1, b2 = distribution(), distribution(), berth_serve(), berth_serve()
        insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        for registry in [d1, b1]:
            subprocess.run([BERTH, "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{registry}/bench/app:v1"], check=True)
        print(f"{'':<38} (median of {ROUNDS}; speed = skopeo time / berth time)")
        for label, src, dst in [("registry → registry (docker-registry)", d1, d2), ("registry → registry (berth serve)", b1, b2)]:
            scenario(label,
                     [BERTH, "copy", "-q"] + insecure + [f"docker://{src}/bench/app:v1", f"docker://{dst}/run@N@/app:v1"],
                     ["skopeo", "copy", "-q"] + insecure + [f"docker://{src}/bench/app:v1", f"docker://{dst}/run@N@/app:v1"])
        out = os.path.join(work, "out")
        scenario("registry → oci: layout",
                 [BERTH, "copy", "-q", "--src-tls-verify=false", f"docker://{d1}/bench/app:v1", f"oci:{out}@N@:v1"],
                 ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{d1}/bench/app:v1", f"oci:{out}@N@:v1"])
        scenario("oci: layout → registry",
                 [BERTH, "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{d2}/push@N@/app:v1"],
                 ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{d2}/push@N@/app:v1"])
        scenario("inspect (remote)",
                 [BERTH, "inspect", "--tls-verify=false", f"docker://{d1}/bench/app:v1"],
                 ["skopeo", "inspect", "--tls-verify=false", f"docker://{d1}/bench/app:v1"])
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
