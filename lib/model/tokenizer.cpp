// Tokenizers and prompt formats (lib/model/tokenizer.h).
#include "lib/model/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <filesystem>

#include "io/error.h"

namespace clues {

namespace {

class ByteTokenizer : public Tokenizer {
 public:
  ByteTokenizer() {
    bos = kBos;
    eos = kEos;
    vocab = 260;
  }
  std::vector<int64_t> encode(const std::string& text) const override { return encode_bytes(text); }
  std::string kind() const override { return "bytes"; }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    const auto st = sp_.Load(path);
    if (!st.ok()) throw InputError(path + ": not a SentencePiece model (" + st.ToString() + ")");
    bos = sp_.bos_id();
    eos = sp_.eos_id();
    vocab = sp_.GetPieceSize();
  }
  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int> ids;
    const auto st = sp_.Encode(text, &ids);
    if (!st.ok()) throw InputError(path_ + ": cannot tokenize a text (" + st.ToString() + ")");
    return {ids.begin(), ids.end()};
  }
  std::string kind() const override { return "sentencepiece"; }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
};

// A folder without a tokenizer clues reads: pre-tokenized samples only.
class NoTokenizer : public Tokenizer {
 public:
  explicit NoTokenizer(std::string why) : why_(std::move(why)) {}
  std::vector<int64_t> encode(const std::string&) const override { throw InputError(why_); }
  std::string kind() const override { return "none (pre-tokenized input only)"; }

 private:
  std::string why_;
};

}  // namespace

std::shared_ptr<const Tokenizer> byte_tokenizer() {
  static const auto t = std::make_shared<ByteTokenizer>();
  return t;
}

std::shared_ptr<const Tokenizer> sentencepiece_tokenizer(const std::string& path) {
  return std::make_shared<SentencePieceTokenizer>(path);
}

std::shared_ptr<const Tokenizer> make_tokenizer(const ModelConfig& c) {
  if (c.dir.empty()) return byte_tokenizer();
  namespace fs = std::filesystem;
  std::shared_ptr<Tokenizer> t;
  const auto spm = fs::path(c.dir) / "tokenizer.model";
  if (fs::exists(spm)) {
    t = std::make_shared<SentencePieceTokenizer>(spm.string());
  } else if (fs::exists(fs::path(c.dir) / "tokenizer.json")) {
    t = bpe_tokenizer((fs::path(c.dir) / "tokenizer.json").string());
  } else {
    t = std::make_shared<NoTokenizer>(c.dir + " has no tokenizer.model or tokenizer.json: give pre-tokenized JSONL lines "
                                              "({\"input_ids\": [...], \"response_mask\": [...]}) instead of text");
  }
  t->bos = c.bos_id;
  t->eos = c.eos_id;
  t->vocab = c.vocab;
  return t;
}

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

std::string prompt_text(const Record& r, Template t) {
  if (t == Template::kAlpaca) {
    if (r.input.empty())
      return "Below is an instruction that describes a task. Write a response that appropriately completes the "
             "request.\n\n### Instruction:\n" + r.instruction + "\n\n### Response:";
    return "Below is an instruction that describes a task, paired with an input that provides further context. Write "
           "a response that appropriately completes the request.\n\n### Instruction:\n" + r.instruction +
           "\n\n### Input:\n" + r.input + "\n\n### Response:";
  }
  std::string p = r.instruction + "\n";
  if (!r.input.empty()) p += r.input + "\n";
  p += "### Response:\n";
  return p;
}

SampleFormat sample_format(const ModelConfig& c) {
  SampleFormat f;
  f.prompt = c.prompt != Template::kAuto ? c.prompt : (c.dir.empty() ? Template::kPlain : Template::kAlpaca);
  f.loss_on = c.loss_on;
  f.max_len = c.max_seq_len;
  return f;
}

namespace {

// <first>{prompt}{response}, cut to max_len as encode_sample describes.
Encoded assemble(std::vector<int64_t> first, std::vector<int64_t> prompt, std::vector<int64_t> response,
                 int64_t max_len, LossOn loss_on) {
  Encoded e;
  const int64_t head = static_cast<int64_t>(first.size());
  const int64_t total = head + static_cast<int64_t>(prompt.size() + response.size());
  if (total > max_len) {
    e.truncated = true;
    const int64_t budget = max_len - head;
    const int64_t keep_resp = std::min<int64_t>(static_cast<int64_t>(response.size()),
                                                std::max<int64_t>(max_len / 4, budget - static_cast<int64_t>(prompt.size())));
    const int64_t keep_prompt = std::max<int64_t>(0, std::min<int64_t>(static_cast<int64_t>(prompt.size()), budget - keep_resp));
    prompt.erase(prompt.begin(), prompt.end() - keep_prompt);
    response.resize(static_cast<size_t>(keep_resp));
  }
  e.ids = std::move(first);
  e.ids.insert(e.ids.end(), prompt.begin(), prompt.end());
  e.response_start = std::max<int64_t>(1, static_cast<int64_t>(e.ids.size()));
  e.ids.insert(e.ids.end(), response.begin(), response.end());
  if (loss_on == LossOn::kSequence) e.response_start = 1;
  return e;
}

void check_ids(const Tokenizer& tok, const Record& r, const std::vector<int64_t>& ids) {
  for (int64_t t : ids)
    if (tok.vocab > 0 && t >= tok.vocab)
      throw InputError("token id " + std::to_string(t) + " is outside the model's vocabulary of " +
                       std::to_string(tok.vocab) + " in the sample \"" + r.raw.substr(0, 120) +
                       (r.raw.size() > 120 ? "...\"" : "\""));
}

}  // namespace

Encoded encode_sample(const Tokenizer& tok, const Record& r, const SampleFormat& f) {
  if (r.pretokenized()) {
    check_ids(tok, r, r.input_ids);
    const auto& ids = r.input_ids;
    const size_t rs = static_cast<size_t>(std::clamp<int64_t>(r.response_start, 1, static_cast<int64_t>(ids.size())));
    return assemble({ids.front()}, {ids.begin() + 1, ids.begin() + static_cast<std::ptrdiff_t>(rs)},
                    {ids.begin() + static_cast<std::ptrdiff_t>(rs), ids.end()}, f.max_len, f.loss_on);
  }
  std::vector<int64_t> first;
  if (tok.bos >= 0) first.push_back(tok.bos);
  auto response = tok.encode(r.output);
  if (tok.eos >= 0) response.push_back(tok.eos);
  return assemble(std::move(first), tok.encode(prompt_text(r, f.prompt)), std::move(response), f.max_len, f.loss_on);
}

Encoded encode_sample(const Record& r, int64_t max_len) {
  SampleFormat f;
  f.max_len = max_len;
  return encode_sample(*byte_tokenizer(), r, f);
}

Encoded encode_text(const Tokenizer& tok, const std::string& text, int64_t max_len) {
  Encoded e;
  if (tok.bos >= 0) e.ids.push_back(tok.bos);
  const auto ids = tok.encode(text);
  e.ids.insert(e.ids.end(), ids.begin(), ids.end());
  if (static_cast<int64_t>(e.ids.size()) > max_len) {
    e.ids.resize(static_cast<size_t>(max_len));
    e.truncated = true;
  }
  e.response_start = 1;
  return e;
}

}  // namespace clues
