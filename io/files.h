// File-system helpers that keep outputs whole: everything is written under a temporary
// name next to its destination and renamed into place only when complete.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace clues {

// The temporary name used while `path` is being written (same directory, so rename is atomic).
std::string temp_path_for(const std::string& path);

// Renames `tmp` onto `path`; throws IoError on failure.
void commit_file(const std::string& tmp, const std::string& path);

// Writes `path` atomically (temporary file, fsync-free rename): `write` fills the binary
// stream; throws IoError when the file cannot be opened or a write fails.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);
// The same with `content` as the whole file.
void write_text_atomic(const std::string& path, const std::string& content);

// Creates `dir` and its parents; throws IoError if that fails.
void make_dirs(const std::string& dir);

bool file_exists(const std::string& path);

// An append-only journal of doubles that survives SIGKILL: append() writes and fsyncs a
// record; read_journal() returns the values of every complete record of `record` values
// (a torn record, down to its last whole value, is dropped and cut off the file, so
// appending goes on at a record boundary: a resumed run redoes whole records only).
void append_journal(const std::string& path, const std::vector<double>& values);
std::vector<double> read_journal(const std::string& path, size_t record = 1);

}  // namespace clues
