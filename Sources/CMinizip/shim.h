// zlib's minizip (Debian's libminizip-dev): zip archives read through custom I/O callbacks.
#include <unzip.h>
#include <ioapi.h>
#include <zlib.h>
