#!/usr/bin/env python3
"""Times `berth copy` against `skopeo copy` on the same image and the same servers, in one run.

Called by scripts/bench/copy.sh, which builds berth and installs the peers. The image is LAYERS
real tar+gzip layers of LAYER_MIB MiB (random file contents, so neither tool can gain by
recompressing, and neither needs to: the bytes are what the media type says). Each scenario runs
ROUNDS times per tool, alternating which goes first, each run into a fresh destination; after every
run the destination is read back, and unless both tools produced the same image (same manifest
digest in a registry; same manifest and blob files in a layout) no ratio is printed. Beside each
ratio: the limit — the same bytes pushed into the same destination registry by parallel curl
uploads, or written and synced into a directory — and how close each tool gets to it.
"""
import hashlib, json, os, statistics, subprocess, sys

from benchlib import (BERTH, ROUNDS, berth_serve, clear_skopeo_cache, curl_push, distribution, remote_digest, stop, tar_gzip_layer,
                      timed, work, write_and_sync, write_layout)

LAYERS = int(os.environ.get("LAYERS", "8"))
LAYER_MIB = int(os.environ.get("LAYER_MIB", "32"))
counter = [0]


def fresh(template):
    return template.replace("@N@", str(counter[0]))


def layout_identity(path):
    """A layout's image: the manifest digest index.json names and every blob file with its digest."""
    with open(os.path.join(path, "index.json")) as f:
        manifest = json.load(f)["manifests"][0]["digest"]
    blobs = {}
    for name in sorted(os.listdir(os.path.join(path, "blobs", "sha256"))):
        with open(os.path.join(path, "blobs", "sha256", name), "rb") as f:
            blobs[name] = hashlib.sha256(f.read()).hexdigest()
    if any(name != digest for name, digest in blobs.items()):
        sys.exit(f"{path}: a blob does not match its name")
    return manifest, tuple(blobs)


def blob_files(layout):
    """The layout's blobs as (digest, path), config and layers (what a push must upload)."""
    directory = os.path.join(layout, "blobs", "sha256")
    with open(os.path.join(layout, "index.json")) as f:
        manifest_digest = json.load(f)["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(directory, manifest_digest)) as f:
        manifest = json.load(f)
    return [(d["digest"], os.path.join(directory, d["digest"].split(":")[1])) for d in [manifest["config"]] + manifest["layers"]]


def scenario(name, berth_argv, skopeo_argv, identity, limit):
    """`identity()` reads back what the run just produced; `limit()` times the floor once per round."""
    times = {"berth": [], "skopeo": []}
    floors = []
    for round in range(ROUNDS):
        order = ["berth", "skopeo"] if round % 2 == 0 else ["skopeo", "berth"]
        produced = {}
        for tool in order:
            counter[0] += 1
            subprocess.run(["sync"])
            if tool == "skopeo":
                clear_skopeo_cache()
            times[tool].append(timed([fresh(a) for a in (skopeo_argv if tool == "skopeo" else berth_argv)]))
            produced[tool] = identity()
        if produced["berth"] != produced["skopeo"]:
            sys.exit(f"{name}: the tools produced different images, no ratio: {produced}")
        counter[0] += 1
        subprocess.run(["sync"])
        floors.append(limit())
    b, s = statistics.median(t for t, _ in times["berth"]), statistics.median(t for t, _ in times["skopeo"])
    floor = statistics.median(floors)
    spread = lambda samples: f"{min(t for t, _ in samples):.2f}-{max(t for t, _ in samples):.2f}"
    print(f"{name:<38} berth {b:6.2f} s ({spread(times['berth'])})  skopeo {s:6.2f} s ({spread(times['skopeo'])})  "
          f"speed {s / b:4.2f}x | limit {floor:5.2f} s: berth at {100 * floor / b:3.0f}%, skopeo at {100 * floor / s:3.0f}% | "
          f"peak RSS berth {max(r for _, r in times['berth']):5.1f} MiB  skopeo {max(r for _, r in times['skopeo']):5.1f} MiB", flush=True)


def main():
    try:
        layout = os.path.join(work, "layout")
        print(f"generating {LAYERS} tar+gzip layers of {LAYER_MIB} MiB", file=sys.stderr)
        write_layout(layout, [tar_gzip_layer(LAYER_MIB << 20) for _ in range(LAYERS)],
                     {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z"})
        blobs = blob_files(layout)
        d1, d2, b1, b2 = distribution(), distribution(), berth_serve(), berth_serve()
        insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        for registry in [d1, b1]:
            subprocess.run([BERTH, "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{registry}/bench/app:v1"], check=True)
        print(f"median of {ROUNDS} (min-max); speed = skopeo time / berth time; every run's result read back and equal for both tools")
        for label, src, dst in [("registry → registry (docker-registry)", d1, d2), ("registry → registry (berth serve)", b1, b2)]:
            scenario(label,
                     [BERTH, "copy", "-q"] + insecure + [f"docker://{src}/bench/app:v1", f"docker://{dst}/run@N@/app:v1"],
                     ["skopeo", "copy", "-q"] + insecure + [f"docker://{src}/bench/app:v1", f"docker://{dst}/run@N@/app:v1"],
                     lambda dst=dst: remote_digest(dst, fresh("run@N@/app:v1")),
                     lambda dst=dst: curl_push(dst, fresh("floor@N@/app"), blobs))
        out = os.path.join(work, "out")
        scenario("registry → oci: layout",
                 [BERTH, "copy", "-q", "--src-tls-verify=false", f"docker://{d1}/bench/app:v1", f"oci:{out}@N@:v1"],
                 ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{d1}/bench/app:v1", f"oci:{out}@N@:v1"],
                 lambda: layout_identity(fresh(f"{out}@N@")),
                 lambda: write_and_sync([(d.split(":")[1], p) for d, p in blobs], os.path.join(work, fresh("floor@N@"))))
        scenario("oci: layout → registry",
                 [BERTH, "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{d2}/push@N@/app:v1"],
                 ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:bench", f"docker://{d2}/push@N@/app:v1"],
                 lambda: remote_digest(d2, fresh("push@N@/app:v1")),
                 lambda: curl_push(d2, fresh("floor@N@/app"), blobs))
    finally:
        stop()


main()
