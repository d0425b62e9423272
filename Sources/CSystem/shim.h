// Linux calls that Swift's Glibc module hides behind _GNU_SOURCE.
#ifndef LINEAGE_CSYSTEM_SHIM_H
#define LINEAGE_CSYSTEM_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

/// Start asynchronous writeback of a file range (no wait); 0 on success.
static inline int lineage_start_writeback(int fd, long long offset, long long length) {
#ifdef __linux__
  return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
  (void)fd; (void)offset; (void)length;
  return 0;
#endif
}
#endif
