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

extern char **environ;

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

struct spawn_job {
    const char *path;
    char *const *argv;
    const char *hidden;
    int quiet;
    int failure;
};

// Runs in the child, which shares the parent's memory until exec (CLONE_VM | CLONE_VFORK, as
// posix_spawn does, so nothing is copied): only syscalls, and failures go to `job->failure`.
static int spawn_child(void *raw) {
    struct spawn_job *job = raw;
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    for (int number = 1; number < NSIG; number++) sigaction(number, &fallback, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    if (job->hidden) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
            job->failure = errno;
            _exit(127);
        }
        umount2(job->hidden, MNT_DETACH);
    }
    if (job->quiet) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2) close(null);
        }
    }
    close_range(3, ~0U, 0);
    execve(job->path, job->argv, environ);
    job->failure = errno;
    _exit(127);
}

int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int quiet, int *pid) {
    struct spawn_job job = {path, argv, hidden, quiet, 0};
    const size_t size = 256 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    // No handler of this process may run in the child before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t child = clone(spawn_child, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, &job);
    int failure = child < 0 ? errno : job.failure;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, size);
    if (child < 0) return failure;
    if (failure != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return failure;
    }
    *pid = (int)child;
    return 0;
}
#else
#include <errno.h>
int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int quiet, int *pid) { return ENOSYS; }
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size) { errno = ENOSYS; return -1; }
int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) { errno = ENOSYS; return -1; }
int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size) { errno = ENOSYS; return -1; }
#endif
