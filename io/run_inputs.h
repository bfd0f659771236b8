// OUT/run_inputs.json: what a run was started from, by content rather than by path: the
// settings that change its results, and every input file's role (silo NAME, validation,
// anchor, test NAME, labels NAME, pretraining corpus N, model FILE), size and XXH3-64
// content hash (Debian's libxxhash, streamed). `--resume` compares a new start with it
// and names each setting or input that differs; paths may differ (a moved or relatively
// named file is the same input when its content is).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace clues {

struct InputFile {
  std::string role;  // "silo ita", "validation", "model config.json", ...
  std::string path;  // as given (for messages only)
  int64_t bytes = 0;
  std::string hash;  // XXH3-64 of the content, 16 hex digits
};

struct RunInputs {
  std::vector<std::pair<std::string, std::string>> settings;  // key -> value, in key-table order
  std::vector<InputFile> files;
};

// Streams `path` through XXH3-64 (1 MiB at a time); throws InputError if it cannot be read.
std::string hash_file(const std::string& path);
// {role, path, size, hash} of one file.
InputFile describe_input(const std::string& role, const std::string& path);

void write_run_inputs(const std::string& path, const RunInputs& inputs);
// Throws InputError naming the file when it is not a run-inputs file.
RunInputs read_run_inputs(const std::string& path);

// One line per difference between the run as started (`then`) and as given now: a
// setting with both values, an input whose content changed (both sizes), an input added
// or removed. Empty when they agree.
std::vector<std::string> run_input_changes(const RunInputs& then, const RunInputs& now);

}  // namespace clues
