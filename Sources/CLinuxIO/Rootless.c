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

// Joins the namespaces of the holder named by _BERTH_USERNS_PID before main, keeping the
// working directory (relative paths on the command line mean what they meant).
__attribute__((constructor)) static void clinuxio_join_rootless_namespace(void) {
    const char *holder = getenv("_BERTH_USERNS_PID");
    if (holder == NULL || *holder == 0) return;
    char user[64], mnt[64], cwd[PATH_MAX];
    int has_cwd = getcwd(cwd, sizeof cwd) != NULL;
    snprintf(user, sizeof user, "/proc/%s/ns/user", holder);
    snprintf(mnt, sizeof mnt, "/proc/%s/ns/mnt", holder);
    int user_fd = open(user, O_RDONLY | O_CLOEXEC);
    int mnt_fd = open(mnt, O_RDONLY | O_CLOEXEC);
    if (user_fd < 0 || mnt_fd < 0 || setns(user_fd, CLONE_NEWUSER) != 0 || setns(mnt_fd, CLONE_NEWNS) != 0) {
        dprintf(2, "berth: cannot join the rootless namespace held by process %s: %s\n", holder, strerror(errno));
        _exit(125);
    }
    close(user_fd);
    close(mnt_fd);
    unsetenv("_BERTH_USERNS_PID");
    if (has_cwd && chdir(cwd) != 0) {
        dprintf(2, "berth: the working directory %s is not visible in the rootless namespace\n", cwd);
        _exit(125);
    }
}
#else
#include <errno.h>
int clinuxio_spawn_namespace_holder(const char *path, char *const argv[], const char *hidden, int *pid, int *release) { return ENOSYS; }
#endif
