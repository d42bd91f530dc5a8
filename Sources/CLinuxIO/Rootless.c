// The two steps of rootless berth that must run while the process has one thread, so in C:
// creating the user + mount namespace pair that holds every rootless container of a user, and
// joining it at start-up (setns(CLONE_NEWUSER) refuses multi-threaded callers, and the Swift
// runtime starts threads before main).
#define _GNU_SOURCE
#include "CLinuxIO.h"

#ifdef __linux__
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct holder_job {
    const char *path;
    char *const *argv;
    const char *hidden;
    int release;
};

// The holder: a copy of the caller (no CLONE_VM) in new user and mount namespaces. It waits
// until the caller has written its id maps, hides `hidden` under an empty tmpfs (crun must not
// see the hybrid host's cgroup2 mount), and becomes the pause program.
static int holder_child(void *raw) {
    struct holder_job *job = raw;
    char go;
    if (read(job->release, &go, 1) != 1) _exit(1);
    close(job->release);
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) _exit(2);
    // Locked in a less privileged namespace, the mount cannot be removed: covered instead.
    if (job->hidden && mount("tmpfs", job->hidden, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755") != 0) _exit(3);
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    close_range(3, ~0U, 0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(job->path, job->argv, environ);
    _exit(127);
}

int clinuxio_spawn_namespace_holder(const char *path, char *const argv[], const char *hidden, int *pid, int *release) {
    int channel[2];
    if (pipe2(channel, O_CLOEXEC) != 0) return errno;
    struct holder_job job = {path, argv, hidden, channel[0]};
    const size_t size = 256 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int failure = errno;
        close(channel[0]);
        close(channel[1]);
        return failure;
    }
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t child = clone(holder_child, stack + size, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, &job);
    int failure = child < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, size);
    close(channel[0]);
    if (child < 0) {
        close(channel[1]);
        return failure;
    }
    *pid = (int)child;
    *release = channel[1];
    return 0;
}

// The commands that work on the local store and its containers: as an ordinary user they run
// in the rootless namespace. Here rather than in Swift because the constructor below needs them
// before main; BerthCLI asks `clinuxio_is_local_command`.
static const char *const local_commands[] = {
    "pull", "images", "rmi", "run", "ps", "rm", "unpack", "logs", "stop", "kill", "start", "restart", "wait", "exec", "container",
};

int clinuxio_is_local_command(const char *name) {
    for (size_t i = 0; i < sizeof local_commands / sizeof *local_commands; i++) {
        if (strcmp(name, local_commands[i]) == 0) return 1;
    }
    return 0;
}

// The pid of this user's running holder (`Rootless.ensureHolder` writes it) into `pid`, or 0:
// the run directory must be this user's and 0700, the process this user's and in a user
// namespace other than ours. Anything else is left to the Swift side, which says what is wrong.
static int find_holder(char *pid, size_t size) {
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    char directory[PATH_MAX], path[PATH_MAX + 16], theirs[64], ours[64];
    if (runtime != NULL && *runtime != 0) snprintf(directory, sizeof directory, "%s/berth", runtime);
    else snprintf(directory, sizeof directory, "/tmp/berth-run-%u", (unsigned)getuid());
    struct stat info;
    if (lstat(directory, &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != getuid() || (info.st_mode & 077) != 0) return 0;
    snprintf(path, sizeof path, "%s/pause.pid", directory);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    ssize_t n = read(fd, pid, size - 1);
    close(fd);
    if (n <= 0) return 0;
    pid[n] = 0;
    pid[strcspn(pid, "\n")] = 0;
    if (*pid == 0 || strspn(pid, "0123456789") != strlen(pid)) return 0;
    snprintf(path, sizeof path, "/proc/%s", pid);
    if (stat(path, &info) != 0 || info.st_uid != getuid()) return 0;
    snprintf(path, sizeof path, "/proc/%s/ns/user", pid);
    ssize_t a = readlink(path, theirs, sizeof theirs - 1), b = readlink("/proc/self/ns/user", ours, sizeof ours - 1);
    if (a <= 0 || b <= 0) return 0;
    theirs[a] = ours[b] = 0;
    return strcmp(theirs, ours) != 0;
}

// Joins the user and mount namespaces of `holder`, keeping the working directory (relative
// paths on the command line mean what they meant); 0, or a message on stderr and nonzero.
static int join_holder(const char *holder, int quiet) {
    char user[64], mnt[64], cwd[PATH_MAX];
    int has_cwd = getcwd(cwd, sizeof cwd) != NULL;
    snprintf(user, sizeof user, "/proc/%s/ns/user", holder);
    snprintf(mnt, sizeof mnt, "/proc/%s/ns/mnt", holder);
    int user_fd = open(user, O_RDONLY | O_CLOEXEC);
    int mnt_fd = open(mnt, O_RDONLY | O_CLOEXEC);
    if (user_fd < 0 || mnt_fd < 0 || setns(user_fd, CLONE_NEWUSER) != 0) {
        if (!quiet) dprintf(2, "berth: cannot join the rootless namespace held by process %s: %s\n", holder, strerror(errno));
        if (user_fd >= 0) close(user_fd);
        if (mnt_fd >= 0) close(mnt_fd);
        return 1;
    }
    // Inside the user namespace now: a failure from here on cannot be undone, so it ends the process.
    if (setns(mnt_fd, CLONE_NEWNS) != 0) {
        dprintf(2, "berth: cannot join the rootless namespace held by process %s: %s\n", holder, strerror(errno));
        _exit(125);
    }
    close(user_fd);
    close(mnt_fd);
    if (has_cwd && chdir(cwd) != 0) {
        dprintf(2, "berth: the working directory %s is not visible in the rootless namespace\n", cwd);
        _exit(125);
    }
    return 0;
}

// Before main, while the process has one thread: a process re-executed with
// _BERTH_USERNS_PID=<holder> joins that holder (or exits 125 saying why); an ordinary user's
// local command joins the running holder directly, which spares it the re-execution (a whole
// start of this program). With no usable holder main makes one and re-executes.
__attribute__((constructor)) static void clinuxio_join_rootless_namespace(int argc, char **argv, char **envp) {
    (void)envp;
    const char *holder = getenv("_BERTH_USERNS_PID");
    if (holder != NULL && *holder != 0) {
        if (join_holder(holder, 0) != 0) _exit(125);
        unsetenv("_BERTH_USERNS_PID");
        return;
    }
    char found[32];
    if (geteuid() == 0 || argc < 2 || !clinuxio_is_local_command(argv[1]) || !find_holder(found, sizeof found)) return;
    join_holder(found, 1);
}
#else
#include <errno.h>
int clinuxio_spawn_namespace_holder(const char *path, char *const argv[], const char *hidden, int *pid, int *release) { return ENOSYS; }
int clinuxio_is_local_command(const char *name) { return 0; }
#endif
