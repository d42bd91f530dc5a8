"""Seeds the benchmark's registries: one small image tagged `latest` in bench/app, and one image
with 1000 tags in bench/tags. `--config-digest` prints the config blob's digest (fixed content)."""
import gzip
import hashlib
import http.client
import io
import json
import sys
import tarfile

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()

def small_layer():
    """A real tar+gzip layer with fixed content (fixed times, so the digest is the same every run)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = b"benchmark layer\n" * 100
        info = tarfile.TarInfo("etc/bench")
        info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


LAYER = small_layer()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(CONFIG), "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(LAYER), "size": len(LAYER)}],
}).encode()


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response


def push_blob(conn, repo, data):
    r = request(conn, "POST", f"/v2/{repo}/blobs/uploads/")
    location = r.getheader("Location")
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    sep = "&" if "?" in location else "?"
    r = request(conn, "PUT", f"{location}{sep}digest={digest(data)}", data, {"Content-Type": "application/octet-stream"})
    assert r.status == 201, (repo, r.status)


def seed(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for repo, tags in (("bench/app", ["latest"]), ("bench/tags", [f"tag-{i:04d}" for i in range(1000)])):
        push_blob(conn, repo, CONFIG)
        push_blob(conn, repo, LAYER)
        for tag in tags:
            r = request(conn, "PUT", f"/v2/{repo}/manifests/{tag}", MANIFEST,
                        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            assert r.status == 201, (repo, tag, r.status)


if __name__ == "__main__":
    if sys.argv[1:] == ["--config-digest"]:
        print(digest(CONFIG))
    else:
        for port in sys.argv[1:]:
            seed(int(port))
