#!/usr/bin/env python3
"""Times `berth run` against bare `crun run`, and `berth unpack` against `umoci unpack`, on the
same image in one run (called by scripts/bench/run.sh, which builds berth and installs the peers).

The image: a busybox-static base layer and four layers of FILES small files each, gzip-compressed.
Each measurement runs ROUNDS times, alternating which tool goes first; medians are printed.
"""
import gzip, hashlib, io, json, os, shutil, statistics, subprocess, sys, tarfile, time

from benchlib import BERTH, ROUNDS, timed, work, write_layout

FILES = int(os.environ.get("FILES", "200"))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
CRUN = shutil.which("crun")
UMOCI = shutil.which("umoci")


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


def make_layout(path):
    base = [("bin", None, 0o755), ("etc", None, 0o755), ("tmp", None, 0o1777),
            ("bin/busybox", open(BUSYBOX, "rb").read(), 0o755), ("bin/sh", "busybox", 0o777), ("bin/true", "busybox", 0o777),
            ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644), ("etc/group", b"root:x:0:\n", 0o644)]
    layers = [layer(base)]
    for n in range(4):
        entries = [(f"data{n}", None, 0o755)] + [(f"data{n}/file{i}", os.urandom(4096), 0o644) for i in range(FILES)]
        layers.append(layer(entries))
    write_layout(path, [blob for blob, _ in layers],
                 {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"], "Env": ["PATH=/bin"]}},
                 diff_ids=["sha256:" + d for _, d in layers])

def hybrid_cgroups():
    try:
        return open("/sys/fs/cgroup/unified/cgroup.controllers").read().strip() != ""
    except OSError:
        return False


def crun_argv(arguments):
    """crun as a user must start it here: on hybrid cgroup hosts crun 1.8 needs the cgroup2 mount
    hidden in a private mount namespace (berth does that itself between fork and exec)."""
    if not hybrid_cgroups():
        return [CRUN] + arguments
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"', CRUN] + arguments


def medians(name, ours, peer, peer_name):
    """Medians, and the difference of the fastest runs too: on a shared VM the slow tail is
    noise that lands more often on the longer of the two."""
    o = statistics.median(ours)
    p = statistics.median(peer)
    print(f"{name:<44} berth {o * 1000:8.1f} ms  {peer_name} {p * 1000:8.1f} ms  "
          f"difference {(o - p) * 1000:+8.1f} ms (fastest runs {(min(ours) - min(peer)) * 1000:+6.1f} ms)  ratio {p / o:5.2f}x", flush=True)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: containers are run without a user namespace")
    if not CRUN or not UMOCI:
        sys.exit("crun and umoci are needed (apt-get install crun umoci)")
    layout = os.path.join(work, "layout")
    make_layout(layout)
    root = os.path.join(work, "store")
    env = dict(os.environ, BERTH_ROOT=root)
    subprocess.run([BERTH, "pull", "-q", f"oci:{layout}:bench"], check=True, env=env, stdout=subprocess.DEVNULL)
    bundle = os.path.join(work, "bundle")
    subprocess.run([BERTH, "unpack", "-q", f"oci:{layout}:bench", bundle], check=True, env=env)
    state = os.path.join(work, "crun-state")
    print(f"image: busybox + 4 layers x {FILES} files of 4 KiB (gzip), {ROUNDS} rounds, medians"
          f"{'; hybrid cgroups: bare crun through unshare, berth hiding the mount itself' if hybrid_cgroups() else ''}", flush=True)

    run_berth, run_crun = [], []
    for i in range(ROUNDS):
        pair = [("b", [BERTH, "run", "-q", "--rm", "--runtime", "crun", f"oci:{layout}:bench", "true"]),
                ("c", crun_argv(["--root", state, "run", "--bundle", bundle, f"bench-{i}"]))]
        for kind, argv in (pair if i % 2 == 0 else pair[::-1]):
            start = time.monotonic()
            subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
            (run_berth if kind == "b" else run_crun).append(time.monotonic() - start)
    medians("run --rm IMAGE true  vs  crun run BUNDLE", run_berth, run_crun, "crun")

    unpack_berth, unpack_umoci = [], []
    for i in range(ROUNDS):
        targets = {"b": os.path.join(work, f"b-{i}"), "u": os.path.join(work, f"u-{i}")}
        pair = [("b", [BERTH, "unpack", "-q", f"oci:{layout}:bench", targets["b"]]),
                ("u", [UMOCI, "unpack", "--image", f"{layout}:bench", targets["u"]])]
        for kind, argv in (pair if i % 2 == 0 else pair[::-1]):
            elapsed, _ = timed(argv)
            (unpack_berth if kind == "b" else unpack_umoci).append(elapsed)
        for target in targets.values():
            shutil.rmtree(target, ignore_errors=True)
    medians("unpack 5 layers  vs  umoci unpack", unpack_berth, unpack_umoci, "umoci")


main()
