# Sourced by scripts/test: runs a test pass within a time limit and, when it is exceeded, says what
# it was waiting on before stopping it, so a hang ends the run with its cause instead of running
# into CI's own limit silently.
# Usage: bounded SECONDS command...
bounded() {
    limit=$1
    shift
    # Line-buffered output all the way down: the test runner block-buffers a pipe, and a run that
    # is stopped would lose the lines that say which tests were still running.
    stdbuf -oL -eL "$@" &
    pid=$!
    (
        # The sleep holds no output of ours, so nothing waiting for the output waits for it.
        sleep "$limit" </dev/null >/dev/null 2>&1
        kill -0 "$pid" 2>/dev/null || exit 0
        echo "scripts/test: still running after ${limit} s; the processes under it (pid, seconds, command):" >&2
        ps -e -o pid=,ppid=,etimes=,args= | awk -v root="$pid" '
            { parent[$1] = $2; line[$1] = $0; order[NR] = $1 }
            END { for (i = 1; i <= NR; i++) { p = order[i]; q = p
                  while (q != "" && q != root && q != 1 && q != 0) q = parent[q]
                  if (q == root) { $0 = line[p]; $2 = ""; print substr($0, 1, 300) } } }' >&2 || true
        for tests in $(pgrep -f 'PackageTests.xctest' || true); do
            echo "scripts/test: threads of the test process $tests that are waiting:" >&2
            gdb -p "$tests" -batch -ex 'thread apply all bt 12' 2>/dev/null | grep -E '^Thread|^#' | head -400 >&2 || true
        done
        pkill -KILL -f 'PackageTests.xctest' || true
        kill "$pid" 2>/dev/null || true
    ) &
    watcher=$!
    status=0
    wait "$pid" || status=$?
    pkill -P "$watcher" 2>/dev/null || true
    kill "$watcher" 2>/dev/null || true
    return "$status"
}
