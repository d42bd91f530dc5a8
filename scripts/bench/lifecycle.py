#!/usr/bin/env python3
"""Rootless berth against rootless podman on the same image, in one run (called by
scripts/bench/lifecycle.sh). Each measurement runs ROUNDS times per tool, alternating which goes
first; medians and ranges are printed. A ratio is printed only when both tools gave the same
result. The limit beside them: the same runtime (runc) running the same command in a prepared
bundle is not measured here; podman's and berth's own work is what differs.
"""
import os, pwd, shutil, statistics, subprocess, sys, time, uuid

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


def as_user(argv, check=True):
    home = pwd.getpwnam(USER).pw_dir
    env = ["env", "-i", "-C", home, f"HOME={home}", f"XDG_RUNTIME_DIR=/tmp/{USER}/run", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
    result = subprocess.run(["runuser", "-u", USER, "--"] + env + argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result


def timed(argv):
    began = time.perf_counter()
    result = as_user(argv)
    return time.perf_counter() - began, result.stdout


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

    def measure(name, step):
        samples = {tool: [] for tool in tools}
        outputs = {tool: set() for tool in tools}
        for round in range(ROUNDS):
            order = list(tools) if round % 2 == 0 else list(reversed(tools))
            for tool in order:
                command, image, run_flags = tools[tool]
                seconds, output = step(tool, command, image, round, run_flags)
                samples[tool].append(seconds)
                outputs[tool].add(output)
        line = f"{name:34}"
        for tool in tools:
            values = samples[tool]
            line += f"  {tool} {statistics.median(values) * 1000:7.1f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"
        if outputs["berth"] == outputs["podman"] and len(outputs["berth"]) == 1:
            line += f"   podman/berth {statistics.median(samples['podman']) / statistics.median(samples['berth']):.2f}x"
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
    measure("run --rm IMAGE echo ran", run_rm)
    measure("run -d (until running)", detached)
    measure("stop (TERM handler exits)", stop)
    measure("exec CONTAINER echo exec", exec_true)
    for tool, (command, _, _) in tools.items():
        for round in range(ROUNDS):
            as_user(command + ["rm", "-f", f"d{round}"], check=False)


if __name__ == "__main__":
    main()
