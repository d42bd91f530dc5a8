#!/usr/bin/env python3
"""Rootless berth against rootless podman on the same image, in one run (called by
scripts/bench/lifecycle.sh). Each measurement runs ROUNDS times per tool, alternating which goes
first; medians and ranges are printed. Each step is timed by a small process running as the
bench user (see TIMER), so the clock holds the tool and nothing of the `runuser` around it. A
ratio is printed only when both tools gave the same result. The limit beside them: runc alone, as the same user, doing the same step on a bundle
prepared once (`runc run`, `run -d`, `kill` + wait, `exec`) from `runc spec --rootless` with the
default seccomp filter both tools apply (containers-common's profile, taken from the bundle
`berth unpack` writes; runc compiles it at every start, ~14 ms here) — no image to mount and
fewer mounts than the specs podman and berth write, so a bound below what either can reach with
their defaults; each tool's share of it is printed as "at N % of the limit".
"""
import gzip, io, json, os, pwd, shutil, statistics, subprocess, sys, tarfile, tempfile, time, uuid

from benchlib import BERTH, ROUNDS, layer, write_layout

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
USER = "berthbench" + uuid.uuid4().hex[:6]


def main():
    if os.geteuid() != 0:
        sys.exit("lifecycle.sh makes a throwaway user: run it as root")
    subprocess.run(["useradd", "-m", USER], check=True)
    try:
        bench()
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER])
        time.sleep(0.5)
        subprocess.run(["userdel", "-r", USER], stderr=subprocess.DEVNULL)
        shutil.rmtree(f"/tmp/{USER}", ignore_errors=True)


def as_user(argv, check=True, detaching=False):
    """`detaching`: the command leaves a process behind that keeps its stdio (`runc run
    --detach`), so it gets /dev/null rather than pipes nobody would close."""
    home = pwd.getpwnam(USER).pw_dir
    env = ["env", "-i", "-C", home, f"HOME={home}", f"XDG_RUNTIME_DIR=/tmp/{USER}/run", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
    argv = ["runuser", "-u", USER, "--"] + env + argv
    if detaching:
        with tempfile.TemporaryFile(mode="w+") as said:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=said, text=True)
            said.seek(0)
            result.stderr = said.read()
    else:
        result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result


# Runs as the bench user and times its command there: `runuser` opens a PAM session for every
# command (~7.5 ms here), which a user typing the command in a shell does not pay, so a clock
# around `runuser` added the same constant to both tools and to the limit. The command's exit
# status is passed on; the seconds are the last line of stderr.
TIMER = """
import subprocess, sys, tempfile, time
detaching, argv = sys.argv[1] == "1", sys.argv[2:]
with tempfile.TemporaryFile() as said:
    began = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL if detaching else subprocess.PIPE, stderr=said)
    seconds = time.perf_counter() - began
    said.seek(0)
    sys.stderr.buffer.write(said.read())
if result.stdout:
    sys.stdout.buffer.write(result.stdout)
sys.stderr.write(f"\\n{seconds}\\n")
sys.exit(result.returncode)
"""


def timed(argv, detaching=False):
    """Seconds the command took, measured as the bench user, and its stdout. `detaching` as
    for `as_user`."""
    result = as_user(["python3", "-c", TIMER, "1" if detaching else "0"] + argv, detaching=detaching)
    return float(result.stderr.split()[-1]), result.stdout


def bench():
    home = pwd.getpwnam(USER).pw_dir
    os.makedirs(f"/tmp/{USER}/run", mode=0o700)
    shutil.chown(f"/tmp/{USER}", USER, USER)
    shutil.chown(f"/tmp/{USER}/run", USER, USER)
    binary = f"/tmp/{USER}/berth"
    shutil.copy(BERTH, binary)
    os.chmod(binary, 0o755)
    layout = f"{home}/layout"
    base = [("bin", None, 0o755), ("bin/busybox", open(BUSYBOX, "rb").read(), 0o755), ("bin/sh", "busybox", 0o777),
            ("bin/true", "busybox", 0o777), ("bin/sleep", "busybox", 0o777), ("bin/echo", "busybox", 0o777)]
    blob, digest = layer(base)
    write_layout(layout, [blob], {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"], "Env": ["PATH=/bin"]}},
                 diff_ids=["sha256:" + digest])
    subprocess.run(["chown", "-R", f"{USER}:{USER}", layout], check=True)

    podman = ["podman", "--runtime", "runc", "--storage-driver", "vfs"]
    berth = [binary]
    as_user(podman + ["pull", "-q", f"oci:{layout}:bench"])
    as_user(berth + ["pull", "-q", f"oci:{layout}:bench"])
    podman_image = as_user(podman + ["images", "-q"]).stdout.split()[0]
    berth_image = "localhost/layout:bench"
    # The same runtime for both (podman takes it globally, berth per run), and the same network:
    # berth's default, loopback only (podman's slirp4netns would also need /dev/net/tun).
    tools = {"berth": (berth, berth_image, ["--runtime", "runc"]), "podman": (podman, podman_image, ["--network", "none"])}

    as_user(berth + ["unpack", berth_image, f"{home}/default-bundle"])
    with open(f"{home}/default-bundle/config.json") as f:
        seccomp = json.load(f)["linux"]["seccomp"]
    floor = RuncFloor(home, blob, seccomp)

    def measure(name, step, limit):
        samples = {tool: [] for tool in tools}
        outputs = {tool: set() for tool in tools}
        floors = []
        for round in range(ROUNDS):
            order = list(tools) if round % 2 == 0 else list(reversed(tools))
            for tool in order:
                command, image, run_flags = tools[tool]
                seconds, output = step(tool, command, image, round, run_flags)
                samples[tool].append(seconds)
                outputs[tool].add(output)
            floors.append(limit(round))
        line = f"{name:34}"
        for tool in tools:
            values = samples[tool]
            line += f"  {tool} {statistics.median(values) * 1000:7.1f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"
        if outputs["berth"] == outputs["podman"] and len(outputs["berth"]) == 1:
            line += f"   podman/berth {statistics.median(samples['podman']) / statistics.median(samples['berth']):.2f}x"
            least = statistics.median(floors)
            shares = ", ".join(f"{tool} at {least / statistics.median(samples[tool]) * 100:.0f} %" for tool in tools)
            line += f"   limit (runc alone, same seccomp) {least * 1000:.1f} ms ({min(floors) * 1000:.0f}-{max(floors) * 1000:.0f}): {shares}"
        else:
            line += f"   results differ: {outputs} (no ratio)"
        print(line, flush=True)

    def run_rm(tool, command, image, round, run_flags):
        return timed(command + ["run"] + run_flags + ["--rm", image, "echo", "ran"])

    def detached(tool, command, image, round, run_flags):
        name = f"d{round}"
        seconds, _ = timed(command + ["run"] + run_flags + ["-d", "--name", name, image, "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"])
        state = as_user(command + ["inspect", "--format", "{{.State.Status}}", name] if tool == "podman" else command + ["container", "inspect", name]).stdout
        return seconds, "running" if "running" in state else state

    def stop(tool, command, image, round, run_flags):
        seconds, _ = timed(command + ["stop", f"d{round}"])
        return seconds, "stopped"

    def exec_true(tool, command, image, round, run_flags):
        name = f"e{round}"
        as_user(command + ["run"] + run_flags + ["-d", "--name", name, image, "sleep", "300"])
        seconds, output = timed(command + ["exec", name, "echo", "exec"])
        as_user(command + ["rm", "-f", name] + (["-t", "0"] if tool == "podman" else []))
        return seconds, output

    print(f"rootless, runc, {ROUNDS} rounds, medians (range); as user {USER} (uid {pwd.getpwnam(USER).pw_uid})", flush=True)
    measure("run --rm IMAGE echo ran", run_rm, floor.run_rm)
    measure("run -d (until running)", detached, floor.detached)
    measure("stop (TERM handler exits)", stop, floor.stop)
    measure("exec CONTAINER echo exec", exec_true, floor.exec_true)
    for tool, (command, _, _) in tools.items():
        for round in range(ROUNDS):
            as_user(command + ["rm", "-f", f"d{round}"], check=False)


class RuncFloor:
    """runc by itself, as the bench user, on a bundle made once from the same layer (`runc spec
    --rootless`: the user's own id mapped to root) with the tools' seccomp filter: the least a
    step costs with this runtime."""

    def __init__(self, home, blob, seccomp):
        self.seccomp = seccomp
        self.bundle = f"{home}/floor-bundle"
        self.root = f"/tmp/{USER}/runc-floor"
        rootfs = f"{self.bundle}/rootfs"
        os.makedirs(rootfs)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            tar.extractall(rootfs)
        subprocess.run(["chown", "-R", f"{USER}:{USER}", self.bundle], check=True)
        as_user(["runc", "spec", "--rootless", "--bundle", self.bundle])
        self.spec_path = f"{self.bundle}/config.json"

    def command(self, args):
        """Sets the container's command (as root: the bundle is the user's, the file is rewritten)."""
        with open(self.spec_path) as f:
            spec = json.load(f)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        spec["process"]["env"] = ["PATH=/bin"]
        spec["linux"]["seccomp"] = self.seccomp
        with open(self.spec_path, "w") as f:
            json.dump(spec, f)

    def runc(self, args, check=True, detaching=False):
        return as_user(["runc", "--root", self.root] + args, check=check, detaching=detaching)

    def timed_runc(self, args, detaching=False):
        return timed(["runc", "--root", self.root] + args, detaching=detaching)[0]

    def run_rm(self, round):
        self.command(["echo", "ran"])
        return self.timed_runc(["run", "--bundle", self.bundle, f"floor-rm-{round}"])

    def started(self, name, args):
        self.command(args)
        return self.timed_runc(["run", "--detach", "--bundle", self.bundle, name], detaching=True)

    def detached(self, round):
        return self.started(f"floor-d-{round}", ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"])

    def stop(self, round):
        name = f"floor-d-{round}"
        # `runc kill` returns once the signal is sent; the step ends when runc says stopped
        # (polled from one shell, so the polling costs what runc's state command costs).
        runc = f"runc --root {self.root}"
        seconds, _ = timed(["sh", "-c", f"{runc} kill {name} TERM && for i in $(seq 1000); do "
                                       f"{runc} state {name} | grep -q '\"status\": \"stopped\"' && exit 0; sleep 0.002; done; exit 1"])
        self.runc(["delete", "--force", name], check=False)
        return seconds

    def exec_true(self, round):
        name = f"floor-e-{round}"
        self.started(name, ["sleep", "300"])
        seconds = self.timed_runc(["exec", name, "echo", "exec"])
        self.runc(["delete", "--force", name], check=False)
        return seconds


if __name__ == "__main__":
    main()
