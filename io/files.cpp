// File-system helpers (io/files.h) on std::filesystem.
#include "io/files.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/error.h"

namespace fs = std::filesystem;

namespace clues {

std::string temp_path_for(const std::string& path) {
  return path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
}

void commit_file(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

void write_text_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = temp_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot open " + tmp + " for writing: check the output folder's permissions and space");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) throw IoError("writing " + tmp + " failed (disk full?)");
  }
  commit_file(tmp, path);
}

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory " + dir + ": " + ec.message());
}

bool file_exists(const std::string& path) { return fs::exists(path); }

}  // namespace clues
