// Byte tokenizer and prompt format (lib/tokenizer.h).
#include "lib/tokenizer.h"

#include <algorithm>

namespace clues {

std::vector<int64_t> encode_bytes(const std::string& text) {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c));
  return ids;
}

std::string decode_bytes(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t t : ids)
    if (t >= 0 && t < 256) s.push_back(static_cast<char>(t));
  return s;
}

std::string prompt_text(const Record& r) {
  std::string p = r.instruction + "\n";
  if (!r.input.empty()) p += r.input + "\n";
  p += "### Response:\n";
  return p;
}

Encoded encode_sample(const Record& r, int64_t max_len) {
  std::vector<int64_t> prompt = encode_bytes(prompt_text(r));
  std::vector<int64_t> response = encode_bytes(r.output);
  response.push_back(kEos);
  Encoded e;
  const int64_t total = 1 + static_cast<int64_t>(prompt.size() + response.size());
  if (total > max_len) {
    e.truncated = true;
    const int64_t budget = max_len - 1;  // after BOS
    const int64_t keep_resp = std::min<int64_t>(static_cast<int64_t>(response.size()),
                                                std::max<int64_t>(max_len / 4, budget - static_cast<int64_t>(prompt.size())));
    const int64_t keep_prompt = std::min<int64_t>(static_cast<int64_t>(prompt.size()), budget - keep_resp);
    prompt.erase(prompt.begin(), prompt.end() - keep_prompt);
    response.resize(static_cast<size_t>(keep_resp));
  }
  e.ids.push_back(kBos);
  e.ids.insert(e.ids.end(), prompt.begin(), prompt.end());
  e.response_start = static_cast<int64_t>(e.ids.size());
  e.ids.insert(e.ids.end(), response.begin(), response.end());
  return e;
}

}  // namespace clues
