// ZSTD_compressSequences (the literals-only entry used for float byte planes) is in zstd's
// "static linking only" section; Debian's libzstd.so.1 exports it (checked with nm -D).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
