#ifndef CTOMLBRIDGE_H
#define CTOMLBRIDGE_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Parse TOML text with toml++ and write it as JSON (toml++'s json_formatter).
///
/// Returns 0 and sets *json / *json_length (free with free()) on success; returns 1 and sets
/// *error (free with free()), *line and *column on a parse error; returns 2 when out of memory.
int lineage_toml_to_json(const char *text, size_t length, char **json, size_t *json_length,
                         char **error, unsigned *line, unsigned *column);

#ifdef __cplusplus
}
#endif
#endif
