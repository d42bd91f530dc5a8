#!/usr/bin/env python3
"""Times `berth copy` against `skopeo copy` on the same image and the same servers, in one run.

Called by scripts/bench/copy.sh, which builds berth and installs the peers. Each scenario runs
ROUNDS times per tool, alternating which tool goes first; the median wall time and the peak RSS
of each tool are printed with the ratio (>1 means berth is faster / smaller).
"""
import hashlib, json, os, subprocess, sys

from benchlib import write_layout, BERTH, ROUNDS, berth_serve, clear_skopeo_cache, distribution, row, stop, timed, work

LAYERS = int(os.environ.get("LAYERS", "8"))
LAYER_MIB = int(os.environ.get("LAYER_MIB", "32"))


def make_layout(path):
    """An OCI layout `bench` with LAYERS random layers of LAYER_MIB MiB (random bytes do not
    compress, so no tool gains by recompressing)."""
    write_layout(path, [os.urandom(LAYER_MIB << 20) for _ in range(LAYERS)],
                 {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z"})


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
    row(name, results["berth"], results["skopeo"])


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
        stop()


main()
