// CZlib: the system zlib (gzip layers), through Debian's zlib1g-dev.
#include <zlib.h>
