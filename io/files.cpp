// File-system helpers (io/files.h) on std::filesystem.
#include "io/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = temp_path_for(path);
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot open " + tmp + " for writing: check the output folder's permissions and space");
    write(out);
    out.close();  // flushes: a failure here is a write that did not reach the file
    if (!out) throw IoError("writing " + path + " failed (is the disk full?); nothing of it was kept");
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  commit_file(tmp, path);
}

void write_text_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory " + dir + ": " + ec.message());
}

bool file_exists(const std::string& path) { return fs::exists(path); }

void append_journal(const std::string& path, const std::vector<double>& values) {
  if (values.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw IoError("cannot open " + path + " for appending: " + std::strerror(errno));
  const char* p = reinterpret_cast<const char*>(values.data());
  size_t left = values.size() * sizeof(double);
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw IoError("cannot append to " + path + ": " + why);
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL;  // EINVAL: a file system without fsync
  const std::string why = std::strerror(errno);
  if (::close(fd) != 0 || !synced) throw IoError("cannot append to " + path + ": " + (synced ? std::strerror(errno) : why));
}

std::vector<double> read_journal(const std::string& path, size_t record) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return {};
  const size_t whole = std::max<size_t>(record, 1) * sizeof(double);
  const size_t n = static_cast<size_t>(size) / whole * whole / sizeof(double);
  if (n * sizeof(double) != size) fs::resize_file(path, n * sizeof(double));  // torn last record
  std::vector<double> out(n);
  std::ifstream in(path, std::ios::binary);
  if (n && !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * sizeof(double))))
    throw IoError("cannot read " + path);
  return out;
}

}  // namespace clues
