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
/// cgroup2 mount). `flags`: CLINUXIO_SPAWN_QUIET sends its stdout and stderr to /dev/null;
/// CLINUXIO_SPAWN_DETACH starts it in a new session with all three on /dev/null (a monitor that
/// outlives the command that started it). `keep`, unless -1, is passed on as the child's
/// descriptor 3. Returns 0 with `*pid` set, or the errno of what failed before the program started.
#define CLINUXIO_SPAWN_QUIET 1
#define CLINUXIO_SPAWN_DETACH 2
int clinuxio_spawn(const char *path, char *const argv[], const char *hidden, int flags, int keep, int *pid);

/// As clinuxio_spawn, with `envp` for the environment and the child's stdin, stdout and stderr
/// the descriptors given (-1: /dev/null), every other descriptor closed (so no pipe of another
/// caller's leaks into it and holds that caller's reads open), in a process group of its own
/// when `group` is not 0. Returns 0 with `*pid` set, or an errno.
int clinuxio_spawn_with(const char *path, char *const argv[], char *const envp[], int in, int out, int err, int group, int *pid);

/// lgetxattr(2): reads an extended attribute without following a symlink; its size, or -1.
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process (a
/// container's PID 1 once the runtime that created it exits), so it can reap them. 0 or -1.
int clinuxio_become_subreaper(void);

/// setns(fd, CLONE_NEWNET): moves the calling thread (only it) into the network namespace `fd`
/// refers to (`/proc/PID/ns/net`). 0 or -1.
int clinuxio_enter_network_namespace(int fd);

/// pidfd_open(2): a descriptor that polls readable once `pid` has exited (Linux 5.3); -1 with errno.
int clinuxio_pidfd_open(int pid);

/// pidfd_send_signal(2): `sig` to the process `fd` refers to, which cannot be another process
/// that reused its pid (Linux 5.1). 0, or -1 with errno.
int clinuxio_pidfd_send_signal(int fd, int sig);

/// Rootless berth (Rootless.c): starts `path` with `argv` as the holder of a new user and mount
/// namespace. The holder waits until the caller has written its uid and gid maps and then
/// written one byte to `*release` (and closed it); it then covers `hidden` (when not NULL) with an
/// empty tmpfs and execs, in a session of its own with no stdio. Returns 0 with `*pid` and
/// `*release` set, or an errno. A process started with _BERTH_USERNS_PID=<holder> in its
/// environment joins that holder's namespaces before main (or exits 125 saying why).
int clinuxio_spawn_namespace_holder(const char *path, char *const argv[], const char *hidden, int *pid, int *release);

/// Whether `name` is a command on the local store and its containers (run by an ordinary user
/// inside the rootless namespace, which such a command joins before main when it is running).
int clinuxio_is_local_command(const char *name);

#endif
