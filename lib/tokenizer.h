// Byte-level tokenizer and the instruction prompt format:
//   <BOS>{instruction}\n{input}\n### Response:\n{output}<EOS>   (input line left out when empty)
// The loss covers the {output}<EOS> tokens only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/jsonl.h"

namespace clues {

constexpr int64_t kBos = 256;
constexpr int64_t kEos = 257;
constexpr int64_t kPad = 258;

struct Encoded {
  std::vector<int64_t> ids;    // BOS, prompt bytes, response bytes, EOS
  int64_t response_start = 0;  // index in ids of the first response token (>= 1)
  bool truncated = false;
};

std::vector<int64_t> encode_bytes(const std::string& text);
std::string decode_bytes(const std::vector<int64_t>& ids);  // drops special tokens
std::string prompt_text(const Record& r);

// Encodes one sample. When it is longer than max_len tokens, the prompt is cut from the
// left (after BOS) and then the response from the right, keeping at least a quarter of
// max_len (or the whole response, if shorter) of response tokens; `truncated` records it.
Encoded encode_sample(const Record& r, int64_t max_len);

}  // namespace clues
