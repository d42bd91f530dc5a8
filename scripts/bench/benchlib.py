"""Shared pieces of the benchmarks: loopback servers, real layers, timing with GNU time, limits."""
import gzip, hashlib, io, json, os, shutil, socket, statistics, subprocess, sys, tarfile, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

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


def tar_gzip_layer(size, name="data.bin"):
    """A real layer: a tar holding one file of `size` random bytes, gzip-compressed (level 1;
    random bytes do not shrink, so no tool gains by compressing differently). What the media type
    `tar+gzip` says it is: a tool that sniffs the content finds gzip and passes it through."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 1700000000, 0o644
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def diff_id(layer):
    """The digest of the tar inside a gzip layer (what a config's rootfs.diff_ids lists)."""
    return "sha256:" + hashlib.sha256(gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer).hexdigest()


def remote_digest(registry, reference, accept="application/vnd.oci.image.manifest.v1+json"):
    """The manifest digest a registry serves for repo:tag."""
    repo, tag = reference.rsplit(":", 1)
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", method="HEAD", headers={"Accept": accept})
    return urllib.request.urlopen(request).headers["Docker-Content-Digest"]


def curl_push(registry, repo, blobs, threads=16):
    """A destination registry's floor: the blobs ((digest, path) pairs) uploaded by curl, `threads`
    at a time, each as a POST and one PUT carrying the bytes. Returns seconds."""
    def one(blob):
        digest, path = blob
        headers = subprocess.run(["curl", "-sSf", "-X", "POST", "-D", "-", "-o", "/dev/null", f"http://{registry}/v2/{repo}/blobs/uploads/"],
                                 capture_output=True, text=True, check=True).stdout
        location = next(line.split(":", 1)[1].strip() for line in headers.splitlines() if line.lower().startswith("location:"))
        if not location.startswith("http"):
            location = f"http://{registry}{location}"
        separator = "&" if "?" in location else "?"
        subprocess.run(["curl", "-sSf", "-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", path, "-o", "/dev/null",
                        f"{location}{separator}digest={digest}"], check=True)
    start = time.monotonic()
    with ThreadPoolExecutor(min(threads, len(blobs))) as pool:
        list(pool.map(one, blobs))
    return time.monotonic() - start


def write_and_sync(files, directory):
    """The floor of writing to disk: `files` ((name, path) pairs, name may hold a subdirectory)
    copied under `directory` and each synced. Returns seconds."""
    start = time.monotonic()
    for name, path in files:
        target = os.path.join(directory, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(path, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    return time.monotonic() - start


def layer(entries):
    """A gzip tar layer from (name, bytes or None for a directory, mode) entries."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, str):
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, 6, mtime=0), hashlib.sha256(tar_bytes).hexdigest()


def write_layout(path, layers, config, diff_ids=None):
    """An OCI layout at `path` with one image tagged `bench`: gzip `layers` (bytes), and the
    image `config` (a dict) with `rootfs.diff_ids` set to `diff_ids` (default: the digests of the
    uncompressed layers)."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    descriptors = [dict(put(blob), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for blob in layers]
    diff_ids = diff_ids or [diff_id(blob) for blob in layers]
    config = dict(config, rootfs={"type": "layers", "diff_ids": diff_ids})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": dict(put(json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json"),
                           "layers": descriptors}).encode()
    entry = dict(put(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                 annotations={"org.opencontainers.image.ref.name": "bench"})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
