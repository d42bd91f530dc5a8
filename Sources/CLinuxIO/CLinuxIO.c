#define _GNU_SOURCE
#include <fcntl.h>
#include "CLinuxIO.h"

int clinuxio_set_direct(int fd, int on) {
#ifdef __linux__
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT));
#else
    (void)fd; (void)on;
    return -1;
#endif
}

#ifdef __linux__
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) {
    return mknod(path, (mode_t)mode, makedev(major, minor));
}

int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size) {
    return lsetxattr(path, name, value, (size_t)size, 0);
}

long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size) {
    return (long)lgetxattr(path, name, value, (size_t)size);
}

#include <sched.h>
#include <sys/prctl.h>

int clinuxio_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int clinuxio_enter_network_namespace(int fd) {
    return setns(fd, CLONE_NEWNET);
}

#include <sys/syscall.h>

int clinuxio_pidfd_open(int pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int clinuxio_pidfd_send_signal(int fd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

extern char **environ;

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

// In a child about to exec: every signal back to its default and unblocked (a parent that
// ignores or blocks SIGINT/SIGTERM must not pass that on).
static void reset_signals(void) {
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    for (int number = 1; number < NSIG; number++) sigaction(number, &fallback, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
}

// Runs `child(job)` in a clone that shares this process's memory until it execs (CLONE_VM |
// CLONE_VFORK, as posix_spawn does, so nothing is copied); the child writes an errno to
// `*failure` if it fails before exec. 0 with `*pid` set, or the errno.
static int clone_and_exec(int (*child)(void *), void *job, int *failure, int *pid) {
    const size_t size = 256 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    // No handler of this process may run in the child before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t started = clone(child, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, job);
    int error = started < 0 ? errno : *failure;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, size);
    if (started < 0) return error;
    if (error != 0) {
        int status;
        while (waitpid(started, &status, 0) < 0 && errno == EINTR) {}
        return error;
    }
    *pid = (int)started;
    return 0;
}

struct spawn_job {
    const char *path;
    char *const *argv;
    const char *hidden;
    int flags;
    int keep;
    int failure;
};

// Runs in the child, which shares the parent's memory until exec (CLONE_VM | CLONE_VFORK, as
// posix_spawn does, so nothing is copied): only syscalls, and failures go to `job->failure`.
static int spawn_child(void *raw) {
    struct spawn_job *job = raw;
    reset_signals();
    // Out of the way of the stdio descriptors replaced below.
    int keep = job->keep >= 0 && job->keep < 3 ? fcntl(job->keep, F_DUPFD, 3) : job->keep;
    if (job->hidden) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
            job->failure = errno;
            _exit(127);
        }
        umount2(job->hidden, MNT_DETACH);
    }
    if (job->flags & CLINUXIO_SPAWN_DETACH) {
        // A session of its own: no terminal, no signals from the caller's process group.
        if (setsid() < 0) {
            job->failure = errno;
            _exit(127);
        }
    }
    if (job->flags & (CLINUXIO_SPAWN_QUIET | CLINUXIO_SPAWN_DETACH)) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            if (job->flags & CLINUXIO_SPAWN_DETACH) dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2) close(null);
        }
    }
    if (keep >= 0) {
        // dup2 clears close-on-exec on the copy; on itself it does nothing, so clear it there.
        if (keep == 3 ? fcntl(3, F_SETFD, 0) != 0 : dup2(keep, 3) != 3) {
            job->failure = errno;
            _exit(127);
        }
    }
    close_range(keep >= 0 ? 4 : 3, ~0U, 0);
    execve(job->path, job->argv, environ);
    job->failure = errno;
    _exit(127);
}

int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int flags, int keep, int *pid) {
    struct spawn_job job = {path, argv, hidden, flags, keep, 0};
    return clone_and_exec(spawn_child, &job, &job.failure, pid);
}

struct spawn_with_job {
    const char *path;
    char *const *argv;
    char *const *envp;
    int fds[3];
    int group;
    int failure;
};

static int spawn_with_child(void *raw) {
    struct spawn_with_job *job = raw;
    reset_signals();
    if (job->group && setpgid(0, 0) != 0) {
        job->failure = errno;
        _exit(127);
    }
    int null = open("/dev/null", O_RDWR);
    // Every source is lifted above 2 before any is placed: when the caller runs with 0, 1 or 2
    // closed (CI gives no stdin), a descriptor it passes may itself be 0, 1 or 2 — or /dev/null
    // may land there — and placing one would overwrite another still to be placed.
    int lifted[3];
    for (int target = 0; target < 3; target++) {
        int source = job->fds[target] >= 0 ? job->fds[target] : null;
        lifted[target] = source < 0 ? -1 : fcntl(source, F_DUPFD_CLOEXEC, 3);
        if (lifted[target] < 0) {
            job->failure = source < 0 ? EBADF : errno;
            _exit(127);
        }
    }
    for (int target = 0; target < 3; target++) {
        if (dup2(lifted[target], target) < 0) {
            job->failure = errno;
            _exit(127);
        }
    }
    close_range(3, ~0U, 0);
    execve(job->path, job->argv, job->envp);
    job->failure = errno;
    _exit(127);
}

int clinuxio_spawn_with(const char *path, char *const argv[], char *const envp[], int in, int out, int err, int group, int *pid) {
    struct spawn_with_job job = {path, argv, envp, {in, out, err}, group, 0};
    return clone_and_exec(spawn_with_child, &job, &job.failure, pid);
}
#else
#include <errno.h>
int clinuxio_spawn_with(const char *path, char *const argv[], char *const envp[], int in, int out, int err, int group, int *pid) { return ENOSYS; }
int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int flags, int *pid) { return ENOSYS; }
int clinuxio_become_subreaper(void) { errno = ENOSYS; return -1; }
int clinuxio_enter_network_namespace(int fd) { errno = ENOSYS; return -1; }
int clinuxio_pidfd_open(int pid) { errno = ENOSYS; return -1; }
int clinuxio_pidfd_send_signal(int fd, int sig) { errno = ENOSYS; return -1; }
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size) { errno = ENOSYS; return -1; }
int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) { errno = ENOSYS; return -1; }
int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size) { errno = ENOSYS; return -1; }
#endif
