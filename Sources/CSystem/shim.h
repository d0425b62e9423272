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

/// The O_DIRECT open flag (writes that bypass the page cache), or 0 where there is none.
static inline int lineage_o_direct(void) {
#ifdef O_DIRECT
  return O_DIRECT;
#else
  return 0;
#endif
}

#ifdef __linux__
#include <malloc.h>
#endif

/// Keep freed heap memory in the process (glibc): large buffers freed after one pass are reused
/// by the next without a page fault per 4 KiB. Returns 1 on success, 0 elsewhere.
static inline int lineage_keep_freed_memory(void) {
#ifdef __linux__
  return mallopt(M_TRIM_THRESHOLD, 256 << 20) && mallopt(M_MMAP_THRESHOLD, 32 << 20);
#else
  return 0;
#endif
}
#endif
