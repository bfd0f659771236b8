// Reading the project's text inputs: instruction JSONL (one sample per line, raw line
// kept byte for byte for selected/<silo>.jsonl) and label files (one 0/1 per line).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace clues {

struct Record {
  Record() = default;
  Record(std::string instruction_, std::string input_, std::string output_, std::string raw_ = "")
      : instruction(std::move(instruction_)), input(std::move(input_)), output(std::move(output_)), raw(std::move(raw_)) {}
  std::string instruction;
  std::string input;   // empty when absent
  std::string output;
  std::string raw;     // the input line, byte for byte, without its newline (a CR before it kept)
  // A pre-tokenized sample instead: token ids as given (BOS and EOS included if wanted),
  // and the index of the first response token (from "response_mask"; 1 without one).
  std::vector<int64_t> input_ids;
  int64_t response_start = -1;
  bool pretokenized() const { return !input_ids.empty(); }
};

// Reads every line of `path`. A bad line (not JSON, not an object, `instruction` or
// `output` missing or not a string, `input` not a string; or for a pre-tokenized line,
// `input_ids` not token ids or `response_mask` not 0s then 1s of the same length) throws
// InputError naming the file and line (a blank line too, except at the end of the file). A
// number beyond double's range counts as null. An empty file is an error: nothing to score.
std::vector<Record> read_jsonl(const std::string& path);

// Reads a labels file: one `0` (clean) or `1` (low quality) per line.
std::vector<uint8_t> read_labels(const std::string& path);

// The lines of a text file, without their newlines (a trailing CR dropped too); blank
// lines at the end of the file are no lines.
std::vector<std::string> read_lines(const std::string& path);

// Reads a whole file; throws InputError if it cannot be opened.
std::string read_text(const std::string& path);

}  // namespace clues
