#!/usr/bin/env python3
"""Times `berth run` against bare `crun run`, and `berth unpack` against `umoci unpack`, on the
same image in one run (called by scripts/bench/run.sh, which builds berth and installs the peers).

The image: a busybox-static base layer and four layers of FILES small files each, gzip-compressed.
Each measurement runs ROUNDS times, alternating which tool goes first; medians are printed.
Before any ratio both tools must have produced the same thing: the container printed the same
line (a file's sha256 from inside it), and the two unpacked root filesystems hold the same names,
types, modes, owners, link targets and file contents. Limits: bare crun on a prepared bundle is
the floor for `run` (berth's work on top of it is the difference); for unpacking, GNU tar
extracting the same five layers in order, which neither checks nor applies whiteouts.
"""
import gzip, hashlib, io, json, os, shutil, stat, statistics, subprocess, sys, tarfile, time

from benchlib import BERTH, ROUNDS, layer, timed, work, write_layout

FILES = int(os.environ.get("FILES", "200"))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
CRUN = shutil.which("crun")
UMOCI = shutil.which("umoci")


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

def tree(root):
    """Everything a root filesystem holds that a container would see, by relative path."""
    entries = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            kind = stat.S_IFMT(info.st_mode)
            detail = os.readlink(path) if stat.S_ISLNK(info.st_mode) else (
                hashlib.sha256(open(path, "rb").read()).hexdigest() if stat.S_ISREG(info.st_mode) else "")
            entries[os.path.relpath(path, root)] = (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, detail)
    return entries


def same_or_exit(what, ours, peer, peer_name):
    if ours != peer:
        if isinstance(ours, dict):
            differing = sorted(k for k in set(ours) | set(peer) if ours.get(k) != peer.get(k))
            detail = f"{len(differing)} entries, first {differing[0]}: berth {ours.get(differing[0])}, {peer_name} {peer.get(differing[0])}"
        else:
            detail = f"berth {ours!r}, {peer_name} {peer!r}"
        sys.exit(f"{what}: berth and {peer_name} differ ({detail}); no ratio")


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


def medians(name, ours, peer, peer_name, limit=None, limit_name=""):
    """Medians, and the difference of the fastest runs too: on a shared VM the slow tail is
    noise that lands more often on the longer of the two."""
    o = statistics.median(ours)
    p = statistics.median(peer)
    print(f"{name:<44} berth {o * 1000:8.1f} ms  {peer_name} {p * 1000:8.1f} ms  "
          f"difference {(o - p) * 1000:+8.1f} ms (fastest runs {(min(ours) - min(peer)) * 1000:+6.1f} ms)  ratio {p / o:5.2f}x", flush=True)
    if limit:
        floor = statistics.median(limit)
        print(f"{'':<44} limit ({limit_name}) {floor * 1000:.1f} ms: berth takes {o / floor:.2f}x it, {peer_name} {p / floor:.2f}x", flush=True)


def manifest_digest(layout):
    return json.load(open(os.path.join(layout, "index.json")))["manifests"][0]["digest"]


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: containers are run without a user namespace")
    if not CRUN or not UMOCI:
        sys.exit("crun and umoci are needed (apt-get install crun umoci)")
    layout = os.path.join(work, "layout")
    make_layout(layout)
    root = os.path.join(work, "store")
    # Every berth command of the run uses this store (timed() passes the environment on).
    os.environ["BERTH_ROOT"] = root
    env = os.environ
    subprocess.run([BERTH, "pull", "-q", f"oci:{layout}:bench"], check=True, env=env, stdout=subprocess.DEVNULL)
    bundle = os.path.join(work, "bundle")
    subprocess.run([BERTH, "unpack", "-q", f"oci:{layout}:bench", bundle], check=True, env=env)
    # Both run the same command: a file's digest from inside the container, compared below.
    command = ["/bin/busybox", "sha256sum", "/data3/file7"]
    spec_path = os.path.join(bundle, "config.json")
    spec = json.load(open(spec_path))
    spec["process"]["args"] = command
    spec["process"]["terminal"] = False
    json.dump(spec, open(spec_path, "w"))
    state = os.path.join(work, "crun-state")
    print(f"image: busybox + 4 layers x {FILES} files of 4 KiB (gzip), {ROUNDS} rounds, medians"
          f"{'; hybrid cgroups: bare crun through unshare, berth hiding the mount itself' if hybrid_cgroups() else ''}", flush=True)

    run_berth, run_crun = [], []
    printed = {}
    for i in range(ROUNDS):
        pair = [("b", [BERTH, "run", "-q", "--rm", "--runtime", "crun", f"oci:{layout}:bench"] + command),
                ("c", crun_argv(["--root", state, "run", "--bundle", bundle, f"bench-{i}"]))]
        for kind, argv in (pair if i % 2 == 0 else pair[::-1]):
            start = time.monotonic()
            result = subprocess.run(argv, check=True, env=env, stdout=subprocess.PIPE)
            (run_berth if kind == "b" else run_crun).append(time.monotonic() - start)
            printed.setdefault(kind, result.stdout)
    same_or_exit("what the container printed", printed["b"], printed["c"], "crun")
    medians("run --rm IMAGE sha256sum  vs  crun run BUNDLE", run_berth, run_crun, "crun")
    print(f"{'':<44} limit: bare crun on a prepared bundle is the floor; berth adds the difference above", flush=True)

    layers = [os.path.join(layout, "blobs", *d["digest"].split(":"))
              for d in json.load(open(os.path.join(layout, "blobs", *manifest_digest(layout).split(":"))))["layers"]]
    unpack_berth, unpack_umoci, unpack_tar = [], [], []
    for i in range(ROUNDS):
        targets = {"b": os.path.join(work, f"b-{i}"), "u": os.path.join(work, f"u-{i}"), "t": os.path.join(work, f"t-{i}")}
        os.makedirs(targets["t"])
        tar_script = " && ".join(f"tar -xzf {layer} -C {targets['t']}" for layer in layers)
        trio = [("b", [BERTH, "unpack", "-q", f"oci:{layout}:bench", targets["b"]]),
                ("u", [UMOCI, "unpack", "--image", f"{layout}:bench", targets["u"]]),
                ("t", ["/bin/sh", "-c", tar_script])]
        for kind, argv in (trio if i % 2 == 0 else trio[::-1]):
            elapsed, _ = timed(argv)
            {"b": unpack_berth, "u": unpack_umoci, "t": unpack_tar}[kind].append(elapsed)
        if i == 0:
            same_or_exit("the unpacked root filesystem", tree(os.path.join(targets["b"], "rootfs")),
                         tree(os.path.join(targets["u"], "rootfs")), "umoci")
        for target in targets.values():
            shutil.rmtree(target, ignore_errors=True)
    medians("unpack 5 layers  vs  umoci unpack", unpack_berth, unpack_umoci, "umoci", unpack_tar, "GNU tar -xzf, layer after layer")


if __name__ == "__main__":
    main()
