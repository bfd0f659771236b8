// Shared by the fuzz targets: the input as a file (the readers take paths), and the one
// rule every target checks: bad input may only end in clues::InputError (or IoError for
// the file system), never in a crash, a sanitizer report or another exception.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "io/error.h"

namespace clues_fuzz {

inline std::string as_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/clues_fuzz_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  const std::string path = dir + "/input" + suffix;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

template <typename F>
void expect_only_input_errors(F f) {
  try {
    f();
  } catch (const clues::InputError&) {
  } catch (const clues::IoError&) {
  }
}

}  // namespace clues_fuzz
