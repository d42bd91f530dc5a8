#define _GNU_SOURCE
#include <fcntl.h>
#include "CLinuxIO.h"

int clinuxio_start_writeback(int fd, off_t offset, off_t length) {
#ifdef __linux__
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}
