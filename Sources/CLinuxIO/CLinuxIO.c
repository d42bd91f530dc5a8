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
#include <spawn.h>
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

int clinuxio_spawn(const char *path, char *const argv[], int *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t empty, all;
    pid_t child = 0;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_init(&attributes);
    sigemptyset(&empty);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &empty);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int result = posix_spawn(&child, path, &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (result == 0) *pid = (int)child;
    return result;
}
#else
#include <errno.h>
int clinuxio_spawn(const char *path, char *const argv[], int *pid) { return ENOSYS; }
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size) { errno = ENOSYS; return -1; }
int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) { errno = ENOSYS; return -1; }
int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size) { errno = ENOSYS; return -1; }
#endif
