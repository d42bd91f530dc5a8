// CLinuxIO: Linux file calls that Swift's Glibc module does not expose.
#ifndef CLINUXIO_H
#define CLINUXIO_H
/// Turns O_DIRECT on or off for an open descriptor. Returns 0, or -1 with errno set (EINVAL where the
/// filesystem cannot do direct I/O, e.g. tmpfs); always -1 off Linux.
int clinuxio_set_direct(int fd, int on);

#endif
