// CZstd: the system libzstd (zstd layers), through Debian's libzstd-dev.
#include <zstd.h>
