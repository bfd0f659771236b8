// File-system helpers that keep outputs whole: everything is written under a temporary
// name next to its destination and renamed into place only when complete.
#pragma once

#include <string>

namespace clues {

// The temporary name used while `path` is being written (same directory, so rename is atomic).
std::string temp_path_for(const std::string& path);

// Renames `tmp` onto `path`; throws IoError on failure.
void commit_file(const std::string& tmp, const std::string& path);

// Writes `content` to `path` atomically (temporary file, fsync-free rename).
void write_text_atomic(const std::string& path, const std::string& content);

// Creates `dir` and its parents; throws IoError if that fails.
void make_dirs(const std::string& dir);

bool file_exists(const std::string& path);

}  // namespace clues
