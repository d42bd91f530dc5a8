"""Seeds the UI benchmark: bench/many with 1,000 tags naming 1,000 distinct images (each its own
config, the same real tar+gzip layer), and 10,000 repositories bench/rNNNNN holding one image each
(blobs mounted, so seeding is two requests a repository). Then checks what the pages must show
before anything is measured. Usage: ui_seed.py PORT"""
import http.client
import json
import re
import sys

from seed import LAYER, digest, push_blob, request

REPOSITORIES = 10_000
TAGS = 1_000


def image(n):
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-12-01T00:00:00Z",
                         "config": {"Labels": {"org.opencontainers.image.title": f"image {n}"}},
                         "rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created_by": f"/bin/sh -c echo {n}"}]}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(LAYER), "size": len(LAYER)}],
    }).encode()
    return config, manifest


def put_manifest(conn, repo, tag, manifest):
    r = request(conn, "PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status == 201, (repo, tag, r.status)


def main(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    push_blob(conn, "bench/many", LAYER)
    for n in range(TAGS):
        config, manifest = image(n)
        push_blob(conn, "bench/many", config)
        put_manifest(conn, "bench/many", f"t{n:04d}", manifest)
    config, manifest = image(0)
    for n in range(REPOSITORIES):
        repo = f"bench/r{n:05d}"
        for blob in (LAYER, config):
            r = request(conn, "POST", f"/v2/{repo}/blobs/uploads/?mount={digest(blob)}&from=bench/many")
            assert r.status == 201, (repo, r.status)
        put_manifest(conn, repo, "v1", manifest)
    # What the measured pages must show, checked before any figure is printed.
    checks = {
        "/ui/repositories/bench/many": (r'class="tag">t0999<', 100, "Page 1 of 10."),
        "/ui/repositories/bench/many?sort=name": (r'class="tag">t0999<', 100, "Page 1 of 10."),
        f"/ui/?sort=name": (r'class="repository">bench/many<', 50, f"of {REPOSITORIES + 1}."),
        "/ui/image/bench/many?ref=t0500": (r"echo 500", None, "image 500"),
    }
    for path, (pattern, rows, text) in checks.items():
        r = request(conn, "GET", path)
        conn.request("GET", path)
        body = conn.getresponse().read().decode()
        assert r.status == 200 and re.search(pattern, body) and text in body, (path, r.status)
        if rows is not None:
            found = len(re.findall(r'class="(?:tag|repository)">', body))
            assert found == rows, (path, found)
    print(f"seeded {TAGS} tags in bench/many and {REPOSITORIES} repositories; pages checked", file=sys.stderr)


if __name__ == "__main__":
    main(int(sys.argv[1]))
