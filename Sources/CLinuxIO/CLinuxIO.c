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
#else
#include <errno.h>
long clinuxio_lgetxattr(const char *path, const char *name, void *value, unsigned long size) { errno = ENOSYS; return -1; }
int clinuxio_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) { errno = ENOSYS; return -1; }
int clinuxio_lsetxattr(const char *path, const char *name, const void *value, unsigned long size) { errno = ENOSYS; return -1; }
#endif
