"""Shared pieces of the client benchmarks: loopback servers, timing with GNU time, the ratio table."""
import hashlib, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

BERTH = os.path.abspath(".build/release/berth")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
work = tempfile.mkdtemp(prefix="berth-bench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
servers = []


def free_port():
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
    """Debian's docker-registry on a free loopback port; returns host:port."""
    port = free_port()
    with open("testdata/docker-registry.yml") as f:
        config = f.read().replace("@ROOT@", os.path.join(work, f"distribution-{port}")).replace("@PORT@", str(port))
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


def stop():
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait()
    shutil.rmtree(work, ignore_errors=True)


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
        sys.exit(f"{' '.join(argv)} failed: {process.stderr.decode()[-800:]}")
    return elapsed, int(process.stderr.decode().strip().splitlines()[-1]) / 1024


def row(name, berth, skopeo):
    """One line: median times, peak RSS, and speed = skopeo time / berth time."""
    b_time = statistics.median(t for t, _ in berth)
    s_time = statistics.median(t for t, _ in skopeo)
    b_rss = max(r for _, r in berth)
    s_rss = max(r for _, r in skopeo)
    print(f"{name:<40} berth {b_time:7.2f} s  skopeo {s_time:7.2f} s  speed {s_time / b_time:5.2f}x   "
          f"peak RSS berth {b_rss:6.1f} MiB  skopeo {s_rss:6.1f} MiB", flush=True)


def write_layout(path, layers, config, diff_ids=None):
    """An OCI layout at `path` with one image tagged `bench`: gzip `layers` (bytes), and the
    image `config` (a dict) with `rootfs.diff_ids` set to `diff_ids` (default: the layer digests)."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    descriptors = [dict(put(blob), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for blob in layers]
    config = dict(config, rootfs={"type": "layers", "diff_ids": diff_ids or [d["digest"] for d in descriptors]})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": dict(put(json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json"),
                           "layers": descriptors}).encode()
    entry = dict(put(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                 annotations={"org.opencontainers.image.ref.name": "bench"})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
