#!/usr/bin/env python3
"""Times `berth sync` against `skopeo sync` in one run: a docker-registry holding REPOS
repositories x 3 tags of small images sharing base layers, synced into fresh destinations (a
second docker-registry, and a dir tree), then each tool's second run over the unchanged source.
Called by scripts/bench/sync.sh. Median of ROUNDS, tools alternating; speed = skopeo / berth.
"""
import hashlib, json, os, subprocess, sys

from benchlib import BERTH, ROUNDS, clear_skopeo_cache, distribution, row, stop, timed, work

REPOS = int(os.environ.get("REPOS", "20"))
TAGS = ["1.0", "1.1", "2.0"]


def make_tree(root):
    """A skopeo-format dir tree, `repoNN:TAG/`, whose images share a 4 MiB base layer and a
    1 MiB layer per repository; each tag adds its own 256 KiB layer."""
    base = os.urandom(4 << 20)
    for r in range(REPOS):
        repo_layer = os.urandom(1 << 20)
        for tag in TAGS:
            image = os.path.join(root, f"repo{r:02d}:{tag}")
            os.makedirs(image)
            layers = []
            for data in [base, repo_layer, os.urandom(256 << 10)]:
                digest = hashlib.sha256(data).hexdigest()
                with open(os.path.join(image, digest), "wb") as f:
                    f.write(data)
                layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": len(data)})
            config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
                                 "config": {"Labels": {"repo": str(r), "tag": tag}}}).encode()
            config_digest = hashlib.sha256(config).hexdigest()
            with open(os.path.join(image, config_digest), "wb") as f:
                f.write(config)
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest, "size": len(config)},
                        "layers": layers}
            with open(os.path.join(image, "manifest.json"), "w") as f:
                json.dump(manifest, f)
            with open(os.path.join(image, "version"), "w") as f:
                f.write("Directory Transport Version: 1.1\n")


def main():
    try:
        source, target = distribution(), distribution()
        tree = os.path.join(work, "tree")
        print(f"seeding {REPOS} repositories x {len(TAGS)} tags", file=sys.stderr)
        make_tree(tree)
        subprocess.run([BERTH, "sync", "-q", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false", tree, f"{source}/bench"], check=True)
        yaml = os.path.join(work, "sync.yaml")
        with open(yaml, "w") as f:
            f.write(f"{source}:\n  tls-verify: false\n  images:\n" + "".join(f"    bench/repo{r:02d}: []\n" for r in range(REPOS)))
        tools = {
            "berth": lambda dest, kind: [BERTH, "sync", "-q", "--src", "yaml", "--dest", kind, "--dest-tls-verify=false", yaml, dest],
            "skopeo": lambda dest, kind: ["skopeo", "sync", "--src", "yaml", "--dest", kind, "--dest-tls-verify=false", yaml, dest],
        }
        results = {(tool, step): [] for tool in tools for step in ["first", "second", "dir"]}
        n = 0
        for round in range(ROUNDS):
            for tool in (["berth", "skopeo"] if round % 2 == 0 else ["skopeo", "berth"]):
                n += 1
                dest = f"{target}/run{n}"
                for step, argv in [("first", tools[tool](dest, "docker")), ("second", tools[tool](dest, "docker")),
                                   ("dir", tools[tool](os.path.join(work, f"dir{n}"), "dir"))]:
                    if tool == "skopeo":
                        clear_skopeo_cache()
                    subprocess.run(["sync"])
                    results[(tool, step)].append(timed(argv))
        print(f"{'':<40} ({REPOS * len(TAGS)} images; median of {ROUNDS}; speed = skopeo time / berth time)")
        row("first sync → registry", results[("berth", "first")], results[("skopeo", "first")])
        row("second sync, source unchanged", results[("berth", "second")], results[("skopeo", "second")])
        row("first sync → dir", results[("berth", "dir")], results[("skopeo", "dir")])
    finally:
        stop()


main()
