// A C entry point over toml++ (Debian's libtomlplusplus), so Swift can read TOML without C++
// interop. It only converts: TOML in, JSON out; the Swift side parses and checks the JSON.
#include "ctomlbridge.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <string_view>

#include <toml++/toml.h>

static char *copy_string(const std::string &s) {
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = 0;
  }
  return out;
}

extern "C" int lineage_toml_to_json(const char *text, size_t length, char **json, size_t *json_length,
                                    char **error, unsigned *line, unsigned *column) {
  *json = nullptr;
  *error = nullptr;
  *line = 0;
  *column = 0;
  try {
    toml::table table = toml::parse(std::string_view(text, length));
    std::ostringstream stream;
    stream << toml::json_formatter{table};
    std::string out = stream.str();
    *json = copy_string(out);
    if (*json == nullptr) return 2;
    *json_length = out.size();
    return 0;
  } catch (const toml::parse_error &e) {
    *error = copy_string(std::string(e.description()));
    *line = static_cast<unsigned>(e.source().begin.line);
    *column = static_cast<unsigned>(e.source().begin.column);
    return *error == nullptr ? 2 : 1;
  } catch (const std::bad_alloc &) {
    return 2;
  }
}
