// CLinuxIO: Linux file calls that Swift's Glibc module does not expose.
#ifndef CLINUXIO_H
#define CLINUXIO_H
/// Turns O_DIRECT on or off for an open descriptor. Returns 0, or -1 with errno set (EINVAL where the
/// filesystem cannot do direct I/O, e.g. tmpfs); always -1 off Linux.
int clinuxio_set_direct(int fd, int on);

/// mknod(2) with the device number made from major and minor (makedev is a macro).
int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor);

/// lsetxattr(2): sets an extended attribute without following a symlink.
int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size);

/// Starts `path` with `argv` and this process's environment and stdio (as posix_spawn does:
/// clone with CLONE_VM | CLONE_VFORK, nothing copied), every other descriptor closed in the
/// child and its signal mask and dispositions reset (a parent that ignores or blocks
/// SIGINT/SIGTERM must not pass that on). With `hidden` not NULL the child first enters a private
/// mount namespace where `hidden` is unmounted (crun on a hybrid-cgroup host must not see the
/// cgroup2 mount). `quiet` sends its stdout and stderr to /dev/null. Returns 0 with `*pid` set,
/// or the errno of what failed before the program started.
int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int quiet, int *pid);

/// lgetxattr(2): reads an extended attribute without following a symlink; its size, or -1.
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size);

#endif
