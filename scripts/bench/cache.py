"""The pull-through cache benchmark (see cache.sh): berth serve's cache and docker-registry's proxy
mode in front of one upstream docker-registry whose access log counts requests and bytes."""
import hashlib, json, os, re, shutil, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
import benchlib
from benchlib import BERTH, free_port, wait_up, work
from wanlink import Link

LAYERS = int(os.environ.get("LAYERS", "8"))
LAYER_MIB = int(os.environ.get("LAYER_MIB", "32"))
CLIENTS = int(os.environ.get("CLIENTS", "20"))
ROUNDS = benchlib.ROUNDS
# The wide-area link the upstream sits behind in the second part (a registry on the internet).
LINK_RTT_MS = float(os.environ.get("LINK_RTT_MS", "20"))
LINK_MB_S = float(os.environ.get("LINK_MB_S", "50"))
ACCESS = re.compile(r'"(GET|HEAD) (/v2/[^ ]+) HTTP/[0-9.]+" (\d+) (\d+)')


class Upstream:
    """A docker-registry with its access log on, read back to count what reached it."""

    def __init__(self):
        self.port = free_port()
        self.log = os.path.join(work, "upstream.log")
        with open("testdata/docker-registry.yml") as f:
            config = f.read().replace("@ROOT@", os.path.join(work, "upstream")).replace("@PORT@", str(self.port))
        config = config.replace("accesslog:\n    disabled: true", "accesslog:\n    disabled: false").replace("level: error", "level: warn")
        path = os.path.join(work, "upstream.yml")
        with open(path, "w") as f:
            f.write(config)
        self.process = subprocess.Popen(["docker-registry", "serve", path], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        benchlib.servers.append(self.process)
        wait_up(self.port)
        self.mark()

    def mark(self):
        self.offset = os.path.getsize(self.log)

    def since_mark(self):
        """(requests, body bytes) the upstream answered since `mark()`, the /v2/ pings left out."""
        time.sleep(0.2)  # the access log is written after the response
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            lines = f.read().decode(errors="replace").splitlines()
        hits = [ACCESS.search(line) for line in lines]
        hits = [h for h in hits if h and h.group(2) != "/v2/"]
        return len(hits), sum(int(h.group(4)) for h in hits if h.group(1) == "GET")


def serve_berth(upstream=None):
    """berth serve as a cache of `upstream`, or without one (what a warm pull through the cache
    should match); its port and process."""
    port = free_port()
    config = os.path.join(work, f"berth-{port}.yml")
    proxy = f"proxy:\n  remoteurl: http://127.0.0.1:{upstream.port}\n" if upstream else ""
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {work}/berth-{port}\n"
                f"http:\n  addr: 127.0.0.1:{port}\n{proxy}")
    process = subprocess.Popen([BERTH, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port)
    return port, process


def serve_distribution_cache(upstream):
    port = free_port()
    with open("testdata/docker-registry.yml") as f:
        config = f.read().replace("@ROOT@", os.path.join(work, f"dist-cache-{port}")).replace("@PORT@", str(port))
    config += f"proxy:\n  remoteurl: http://127.0.0.1:{upstream.port}\n"
    path = os.path.join(work, f"dist-cache-{port}.yml")
    with open(path, "w") as f:
        f.write(config)
    process = subprocess.Popen(["docker-registry", "serve", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port)
    return port, process


def stop(process):
    process.terminate()
    process.wait()


def skopeo_pull(port, reference, all_platforms):
    """Seconds for skopeo to copy `reference` from 127.0.0.1:port into a fresh dir:, and the
    digests it wrote (manifests and blobs), so two sources can be compared."""
    out = os.path.join(work, f"pull-{port}-{time.monotonic_ns()}")
    argv = ["skopeo", "copy", "-q", "--src-tls-verify=false"] + (["--all"] if all_platforms else []) + \
        [f"docker://127.0.0.1:{port}/{reference}", f"dir:{out}"]
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {result.stderr[-800:]}")
    digests = sorted("sha256:" + hashlib.sha256(open(os.path.join(out, name), "rb").read()).hexdigest()
                     for name in os.listdir(out) if name != "version")
    shutil.rmtree(out)
    return elapsed, digests


def checked_pull(port, reference, all_platforms, expected, what):
    """Seconds of a skopeo pull with skopeo's blob cache cleared first; exits (no ratio printed)
    when the digests it wrote differ from `expected`, the upstream's."""
    benchlib.clear_skopeo_cache()
    elapsed, digests = skopeo_pull(port, reference, all_platforms)
    if digests != expected:
        sys.exit(f"{what} produced other digests than the upstream: no ratio printed")
    return elapsed


def curl_blobs(port, repo, blobs):
    """One client fetching every blob of the image with curl; the sha256 of each body."""
    sums = []
    for digest in blobs:
        body = subprocess.run(["curl", "-sSf", f"http://127.0.0.1:{port}/v2/{repo}/blobs/{digest}"], capture_output=True, check=True).stdout
        sums.append("sha256:" + hashlib.sha256(body).hexdigest())
    return sums


def index_layout(path, platforms):
    """An OCI layout holding a multi-platform index tagged `bench` (two small real layers each)."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

    entries = []
    for arch in platforms:
        layers = [benchlib.tar_gzip_layer(4 << 20, f"{arch}-{i}.bin") for i in range(2)]
        config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [benchlib.diff_id(l) for l in layers]}}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": put(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
                               "layers": [put(l, "application/vnd.oci.image.layer.v1.tar+gzip") for l in layers]}).encode()
        entries.append(dict(put(manifest, "application/vnd.oci.image.manifest.v1+json"), platform={"architecture": arch, "os": "linux"}))
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).encode()
    entry = dict(put(index, "application/vnd.oci.image.index.v1+json"), annotations={"org.opencontainers.image.ref.name": "bench"})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')


def spread(values):
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def main():
    upstream = Upstream()
    print(f"seeding: {LAYERS} x {LAYER_MIB} MiB gzip layers, and a 3-platform index", file=sys.stderr, flush=True)
    layers = [benchlib.tar_gzip_layer(LAYER_MIB << 20, f"layer-{i}.bin") for i in range(LAYERS)]
    big, multi = os.path.join(work, "big"), os.path.join(work, "multi")
    benchlib.write_layout(big, layers, {"architecture": "amd64", "os": "linux"})
    index_layout(multi, ["amd64", "arm64", "s390x"])
    plain, process = serve_berth()
    benchlib.servers.append(process)
    for layout, repo, extra in ((big, "bench/big", []), (multi, "bench/multi", ["--all"])):
        for port in (upstream.port, plain):
            subprocess.run([BERTH, "copy", "-q", "--dest-tls-verify=false"] + extra + [f"oci:{layout}:bench", f"docker://127.0.0.1:{port}/{repo}:v1"],
                           check=True)
    cases = (("image", "bench/big:v1", False), ("index", "bench/multi:v1", True))
    times = {}
    traffic = {}
    expected = {}
    for _ in range(ROUNDS):
        for case, reference, all_platforms in cases:
            benchlib.clear_skopeo_cache()
            upstream.mark()
            elapsed, digests = skopeo_pull(upstream.port, reference, all_platforms)
            expected.setdefault(case, digests)
            times.setdefault((case, "direct"), []).append(elapsed)
            elapsed = checked_pull(plain, reference, all_platforms, expected[case], f"the plain berth serve's {case} pull")
            times.setdefault((case, "plain"), []).append(elapsed)
            for tool, start in (("berth", serve_berth), ("docker-registry", serve_distribution_cache)):
                port, process = start(upstream)
                for phase in ("cold", "warm"):
                    upstream.mark()
                    elapsed = checked_pull(port, reference, all_platforms, expected[case], f"{tool} {phase} {case} pull")
                    times.setdefault((case, phase, tool), []).append(elapsed)
                    traffic[(case, phase, tool)] = upstream.since_mark()
                stop(process)
    print(f"{'':<34}{'berth':>24}{'docker-registry':>26}   ratio   (all digests equal to the upstream's)")
    for case, _, _ in cases:
        direct = times[(case, "direct")]
        print(f"{case + ' straight from the upstream':<34}{spread(direct):>24}   (the limit of a cold pull)")
        for phase in ("cold", "warm"):
            b, d = times[(case, phase, "berth")], times[(case, phase, "docker-registry")]
            ratio = statistics.median(d) / statistics.median(b)
            line = f"{case + ' ' + phase + ' pull':<34}{spread(b):>24}{spread(d):>26}   {ratio:5.2f}x"
            if phase == "cold":
                line += (f"   limit/berth {statistics.median(direct) / statistics.median(b):4.0%}"
                         f", limit/docker-registry {statistics.median(direct) / statistics.median(d):4.0%}")
            print(line)
        plain = times[(case, "plain")]
        print(f"{case + ' from a plain berth serve':<34}{spread(plain):>24}   (the target of a warm pull: "
              f"berth warm at {statistics.median(plain) / statistics.median(times[(case, 'warm', 'berth')]):4.0%} of it)")
        for phase in ("cold", "warm"):
            (br, bb), (dr, db) = traffic[(case, phase, "berth")], traffic[(case, phase, "docker-registry")]
            print(f"{'  upstream per ' + phase + ' ' + case + ' pull':<34}{f'{br} req, {bb / 2**20:.1f} MiB':>24}{f'{dr} req, {db / 2**20:.1f} MiB':>26}")

    far_away(upstream, cases, expected, {"image": sum(len(l) for l in layers), "index": index_bytes(multi)})

    # CLIENTS pulls of the cold image's blobs at once, each checked against its digest.
    with open(manifest_path(big)) as f:
        blobs = [layer["digest"] for layer in json.load(f)["layers"]]
    for tool, start in (("berth", serve_berth), ("docker-registry", serve_distribution_cache)):
        port, process = start(upstream)
        subprocess.run(["curl", "-sSf", "-o", "/dev/null", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                        f"http://127.0.0.1:{port}/v2/bench/big/manifests/v1"], check=True)
        upstream.mark()
        begin = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda _: curl_blobs(port, "bench/big", blobs), range(CLIENTS)))
        elapsed = time.monotonic() - begin
        if any(result != blobs for result in results):
            sys.exit(f"{tool}: a concurrent pull got other bytes than the digests say")
        requests, received = upstream.since_mark()
        size = sum(len(l) for l in layers)
        print(f"{CLIENTS} concurrent cold pulls, {tool:<16} {elapsed:6.2f} s, upstream {requests} requests, "
              f"{received / 2**20:.0f} MiB = {received / size:.1f}x the image")
        stop(process)


class Remote:
    """The upstream as the far end of a link: what serve_berth and serve_distribution_cache need."""

    def __init__(self, port):
        self.port = port


def far_away(upstream, cases, expected, sizes):
    """The cold pulls again with the upstream behind a wide-area link (wanlink.Link), as it is
    for a cache in front of Docker Hub: the line, not loopback on two cores, is then the limit
    of a cold pull, for skopeo straight from the upstream and through either cache alike."""
    link = Link(upstream.port, rtt=LINK_RTT_MS / 1000, rate=LINK_MB_S * 1e6)
    try:
        print(f"\nthe upstream behind a link of {LINK_RTT_MS:.0f} ms round trip and {LINK_MB_S:.0f} MB/s "
              f"(limit: the line carrying the content once)")
        for case, reference, all_platforms in cases:
            times = {}
            for _ in range(ROUNDS):
                elapsed = checked_pull(link.port, reference, all_platforms, expected[case], f"the {case} pull over the link")
                times.setdefault("direct", []).append(elapsed)
                for tool, start in (("berth", serve_berth), ("docker-registry", serve_distribution_cache)):
                    port, process = start(Remote(link.port))
                    try:
                        elapsed = checked_pull(port, reference, all_platforms, expected[case], f"{tool} cold {case} pull over the link")
                    finally:
                        stop(process)
                    times.setdefault(tool, []).append(elapsed)
            line = sizes[case] / (LINK_MB_S * 1e6)
            direct = statistics.median(times["direct"])
            print(f"{case + ' straight from the upstream':<34}{spread(times['direct']):>24}   "
                  f"(the line: {line:.2f} s; skopeo at {line / direct:4.0%} of it)")
            b, d = statistics.median(times["berth"]), statistics.median(times["docker-registry"])
            print(f"{case + ' cold pull':<34}{spread(times['berth']):>24}{spread(times['docker-registry']):>26}   {d / b:5.2f}x"
                  f"   direct/berth {direct / b:4.0%}, direct/docker-registry {direct / d:4.0%}")
    finally:
        link.close()


def index_bytes(layout):
    """Bytes of every blob and manifest in the layout: what a cold pull of it moves."""
    blobs = os.path.join(layout, "blobs", "sha256")
    return sum(os.path.getsize(os.path.join(blobs, name)) for name in os.listdir(blobs))


def manifest_path(layout):
    index = json.load(open(os.path.join(layout, "index.json")))
    return os.path.join(layout, "blobs", "sha256", index["manifests"][0]["digest"][7:])


try:
    main()
finally:
    benchlib.stop()
