// Reading the project's text inputs: instruction JSONL (one sample per line, raw line
// kept byte for byte for selected/<silo>.jsonl) and label files (one 0/1 per line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clues {

struct Record {
  std::string instruction;
  std::string input;   // empty when absent
  std::string output;
  std::string raw;     // the input line, byte for byte, without its newline
};

// Reads every line of `path`. A bad line (not JSON, not an object, `instruction` or
// `output` missing or not a string, `input` not a string) throws InputError naming the
// file and line. An empty file is an error too: there is nothing to score.
std::vector<Record> read_jsonl(const std::string& path);

// Reads a labels file: one `0` (clean) or `1` (low quality) per line.
std::vector<uint8_t> read_labels(const std::string& path);

// Reads a whole file; throws InputError if it cannot be opened.
std::string read_text(const std::string& path);

}  // namespace clues
