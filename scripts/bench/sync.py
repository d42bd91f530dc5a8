#!/usr/bin/env python3
"""Times `berth sync` against `skopeo sync` in one run: a docker-registry holding REPOS
repositories x 3 tags of small images sharing base layers (real tar+gzip layers), synced into
fresh destinations (a second docker-registry, and a dir tree), then each tool's second run over the
unchanged source. Called by scripts/bench/sync.sh. Median of ROUNDS, tools alternating; speed =
skopeo / berth. After every run the destination is read back — every image's manifest digest in
the registry, every image's manifest in the dir tree — and unless both tools produced the same, no
ratio is printed. Beside each ratio, the limit: the same unique blobs pushed into the destination
registry by parallel curl uploads; the same files written and synced for the dir tree; for the
second sync, one HEAD per image manifest (what "nothing changed" costs at the least).
"""
import hashlib, json, os, statistics, subprocess, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

from benchlib import (BERTH, ROUNDS, clear_skopeo_cache, curl_push, diff_id, distribution, remote_digest, stop, tar_gzip_layer, timed,
                      work, write_and_sync)

REPOS = int(os.environ.get("REPOS", "20"))
TAGS = ["1.0", "1.1", "2.0"]


def make_tree(root):
    """A skopeo-format dir tree, `repoNN:TAG/`, whose images share a 4 MiB base layer and a
    1 MiB layer per repository; each tag adds its own 256 KiB layer. Returns {blob name: path}
    of the unique blobs and [(image/blob, path)] of every file an image holds."""
    base = tar_gzip_layer(4 << 20, "base.bin")
    unique, files = {}, []
    for r in range(REPOS):
        repo_layer = tar_gzip_layer(1 << 20, "repo.bin")
        for tag in TAGS:
            image = os.path.join(root, f"repo{r:02d}:{tag}")
            os.makedirs(image)
            layers = []
            blobs = [base, repo_layer, tar_gzip_layer(256 << 10, "tag.bin")]
            for data in blobs:
                digest = hashlib.sha256(data).hexdigest()
                with open(os.path.join(image, digest), "wb") as f:
                    f.write(data)
                layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": len(data)})
                unique[digest] = os.path.join(image, digest)
                files.append((f"repo{r:02d}:{tag}/{digest}", os.path.join(image, digest)))
            config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id(d) for d in blobs]},
                                 "config": {"Labels": {"repo": str(r), "tag": tag}}}).encode()
            config_digest = hashlib.sha256(config).hexdigest()
            with open(os.path.join(image, config_digest), "wb") as f:
                f.write(config)
            unique[config_digest] = os.path.join(image, config_digest)
            files.append((f"repo{r:02d}:{tag}/{config_digest}", os.path.join(image, config_digest)))
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest, "size": len(config)},
                        "layers": layers}
            with open(os.path.join(image, "manifest.json"), "w") as f:
                json.dump(manifest, f)
            with open(os.path.join(image, "version"), "w") as f:
                f.write("Directory Transport Version: 1.1\n")
    return unique, files


def registry_images(registry, prefix):
    """Every image's manifest digest at the destination (sync keeps the last path component, as skopeo does)."""
    return {f"{r:02d}:{t}": remote_digest(registry, f"{prefix}/repo{r:02d}:{t}") for r in range(REPOS) for t in TAGS}


def dir_images(root):
    """Every image's manifest in a synced dir tree, by digest."""
    found = {}
    for dirpath, _, names in os.walk(root):
        if "manifest.json" in names:
            with open(os.path.join(dirpath, "manifest.json"), "rb") as f:
                found[os.path.relpath(dirpath, root)] = hashlib.sha256(f.read()).hexdigest()
    return found


def heads(registry):
    """The second sync's floor: one HEAD per image manifest, 16 at a time."""
    def one(reference):
        remote_digest(registry, reference)
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, [f"bench/repo{r:02d}:{t}" for r in range(REPOS) for t in TAGS]))
    return time.monotonic() - start


def main():
    try:
        source, target = distribution(), distribution()
        tree = os.path.join(work, "tree")
        print(f"seeding {REPOS} repositories x {len(TAGS)} tags", file=sys.stderr)
        unique, files = make_tree(tree)
        subprocess.run([BERTH, "sync", "-q", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false", tree, f"{source}/bench"], check=True)
        yaml = os.path.join(work, "sync.yaml")
        with open(yaml, "w") as f:
            f.write(f"{source}:\n  tls-verify: false\n  images:\n" + "".join(f"    bench/repo{r:02d}: []\n" for r in range(REPOS)))
        tools = {
            "berth": lambda dest, kind: [BERTH, "sync", "-q", "--src", "yaml", "--dest", kind, "--dest-tls-verify=false", yaml, dest],
            "skopeo": lambda dest, kind: ["skopeo", "sync", "--src", "yaml", "--dest", kind, "--dest-tls-verify=false", yaml, dest],
        }
        steps = ["first", "second", "dir"]
        results = {(tool, step): [] for tool in tools for step in steps}
        floors = {step: [] for step in steps}
        n = 0
        for round in range(ROUNDS):
            produced = {}
            for tool in (["berth", "skopeo"] if round % 2 == 0 else ["skopeo", "berth"]):
                n += 1
                for step, argv, read in [("first", tools[tool](f"{target}/run{n}", "docker"), lambda: registry_images(target, f"run{n}")),
                                         ("second", tools[tool](f"{target}/run{n}", "docker"), lambda: registry_images(target, f"run{n}")),
                                         ("dir", tools[tool](os.path.join(work, f"dir{n}"), "dir"), lambda: dir_images(os.path.join(work, f"dir{n}")))]:
                    if tool == "skopeo":
                        clear_skopeo_cache()
                    subprocess.run(["sync"])
                    results[(tool, step)].append(timed(argv))
                    produced[(tool, step)] = read()
            for step in steps:
                if produced[("berth", step)] != produced[("skopeo", step)]:
                    sys.exit(f"{step}: the tools produced different images, no ratio")
            floors["first"].append(curl_push(target, f"floor{round}/blobs", [("sha256:" + d, p) for d, p in unique.items()]))
            floors["second"].append(heads(source))
            floors["dir"].append(write_and_sync(files, os.path.join(work, f"floor-dir{round}")))
        print(f"{REPOS * len(TAGS)} images; median of {ROUNDS} (min-max); speed = skopeo time / berth time; every run's result "
              f"read back and equal for both tools")
        for step, label in [("first", "first sync → registry"), ("second", "second sync, source unchanged"), ("dir", "first sync → dir")]:
            b, s = statistics.median(t for t, _ in results[("berth", step)]), statistics.median(t for t, _ in results[("skopeo", step)])
            floor = statistics.median(floors[step])
            spread = lambda samples: f"{min(t for t, _ in samples):.2f}-{max(t for t, _ in samples):.2f}"
            print(f"{label:<32} berth {b:6.2f} s ({spread(results[('berth', step)])})  skopeo {s:6.2f} s "
                  f"({spread(results[('skopeo', step)])})  speed {s / b:5.2f}x | limit {floor:5.2f} s: berth at {100 * floor / b:3.0f}%, "
                  f"skopeo at {100 * floor / s:3.0f}%", flush=True)
    finally:
        stop()


main()
