// Tokenizers and the prompt formats. The built-in model reads bytes; a Hugging Face model
// folder brings its own tokenizer (SentencePiece `tokenizer.model`, read with Debian's
// libsentencepiece, or byte-level BPE `tokenizer.json`); pre-tokenized JSONL lines
// (`input_ids`) need none. Prompt formats:
//   plain:  <BOS>{instruction}\n{input}\n### Response:\n{output}<EOS>   (input line left out when empty)
//   alpaca: <BOS>Below is an instruction ... ### Response:{output}<EOS> (Stanford Alpaca's text)
// The prompt and the output are tokenized separately, so the response starts at a token
// boundary. The loss covers the {output}<EOS> tokens, or every token after the first
// (model.loss_on=sequence).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/jsonl.h"
#include "lib/config/config.h"

namespace clues {

constexpr int64_t kBos = 256;
constexpr int64_t kEos = 257;
constexpr int64_t kPad = 258;

struct Encoded {
  std::vector<int64_t> ids;    // BOS, prompt tokens, response tokens, EOS
  int64_t response_start = 0;  // index in ids of the first response token (>= 1)
  bool truncated = false;
};

// Text to token ids (no special tokens added), plus the special tokens a sample gets.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  virtual std::string kind() const = 0;  // for the log: "bytes", "sentencepiece", ...
  int64_t bos = -1, eos = -1;            // -1: the model has none (none is added)
  int64_t vocab = 0;
};

// The built-in model's tokenizer: one token per byte, BOS 256, EOS 257.
std::shared_ptr<const Tokenizer> byte_tokenizer();
// A SentencePiece model file (throws InputError naming the file if it does not load).
std::shared_ptr<const Tokenizer> sentencepiece_tokenizer(const std::string& path);
// A byte-level BPE tokenizer.json (lib/model/bpe_tokenizer.cpp: what is read, what is refused).
std::shared_ptr<Tokenizer> bpe_tokenizer(const std::string& path);
// The tokenizer of a model: bytes for the built-in one; for a folder its tokenizer.model,
// else its tokenizer.json, or, when it has neither, a tokenizer that refuses text
// (pre-tokenized input only), naming what is missing. BOS/EOS come from config.json.
std::shared_ptr<const Tokenizer> make_tokenizer(const ModelConfig& c);

std::vector<int64_t> encode_bytes(const std::string& text);
std::string decode_bytes(const std::vector<int64_t>& ids);  // drops special tokens
std::string prompt_text(const Record& r, Template t = Template::kPlain);

// How records become samples: prompt template, loss coverage, length cap.
struct SampleFormat {
  Template prompt = Template::kPlain;
  LossOn loss_on = LossOn::kResponse;
  int64_t max_len = 128;
};
SampleFormat sample_format(const ModelConfig& c);

// Encodes one sample (text or pre-tokenized). When it is longer than max_len tokens, the
// prompt is cut from the left (after BOS) and then the response from the right, keeping
// at least a quarter of max_len (or the whole response, if shorter) of response tokens;
// `truncated` records it. Token ids at or above tok.vocab throw InputError.
Encoded encode_sample(const Tokenizer& tok, const Record& r, const SampleFormat& f);
// The built-in byte format (plain template, response loss).
Encoded encode_sample(const Record& r, int64_t max_len);
// Plain text: <BOS>{text}, the loss over every token after BOS (cut to max_len tokens).
Encoded encode_text(const Tokenizer& tok, const std::string& text, int64_t max_len);

}  // namespace clues
