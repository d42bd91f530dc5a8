// CLinuxIO: Linux file calls that Swift's Glibc module does not expose.
#ifndef CLINUXIO_H
#define CLINUXIO_H
#include <sys/types.h>

/// Starts writeback of [offset, offset+length) without waiting (sync_file_range with
/// SYNC_FILE_RANGE_WRITE). Returns 0, or -1 with errno set; a no-op returning 0 off Linux.
int clinuxio_start_writeback(int fd, off_t offset, off_t length);

#endif
