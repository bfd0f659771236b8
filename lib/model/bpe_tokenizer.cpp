// Byte-level BPE from a Hugging Face tokenizer.json (Llama-3, Qwen2, GPT-2 style), for
// lib/model/tokenizer.h. What is read, and everything else refused with its name:
//   model:          BPE with merges ("a b" strings or [a, b] pairs), ignore_merges
//   pre_tokenizer:  Split(Regex, Isolated) then ByteLevel(use_regex=false), or
//                   ByteLevel(use_regex=true) with GPT-2's pattern
//   normalizer:     none, or NFC (text is taken as already composed: see docs/models.md)
//   added_tokens:   matched verbatim in the text before pre-tokenization
// Pre-tokenization runs the tokenizer's own regular expression through PCRE2 (Unicode
// properties), bytes are mapped to GPT-2's printable characters, and merges are applied
// lowest rank first.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "io/error.h"
#include "io/jsonl.h"
#include "lib/model/tokenizer.h"

namespace clues {

namespace {

using json = nlohmann::json;

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

class ByteLevelBpe : public Tokenizer {
 public:
  explicit ByteLevelBpe(const std::string& path) : path_(path) {
    json j;
    try {
      j = json::parse(read_text(path));
    } catch (const json::exception& e) {
      fail(std::string("not valid JSON (") + std::string(e.what()).substr(0, 200) + ")");
    }
    const json& m = j.value("model", json::object());
    if (m.value("type", std::string()) != "BPE") fail("its model type is \"" + m.value("type", std::string("?")) + "\", not BPE");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(k) && !m[k].is_null()) fail(std::string("BPE with ") + k + " is not read");
    if (m.value("byte_fallback", false)) fail("BPE with byte_fallback (SentencePiece-style) is not read; give tokenizer.model");
    ignore_merges_ = m.value("ignore_merges", false);
    for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) vocab_[it.key()] = it->get<int64_t>();
    int rank = 0;
    for (const auto& mg : m["merges"]) {
      std::string a, b;
      if (mg.is_string()) {
        const auto s = mg.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos) fail("a merge \"" + s + "\" is not two symbols");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else {
        a = mg.at(0).get<std::string>();
        b = mg.at(1).get<std::string>();
      }
      ranks_.emplace(a + '\x01' + b, rank++);
    }
    if (j.contains("normalizer") && !j["normalizer"].is_null() && j["normalizer"].value("type", std::string()) != "NFC")
      fail("normalizer \"" + j["normalizer"].value("type", std::string("?")) + "\" is not read (none or NFC)");
    read_pre_tokenizer(j.value("pre_tokenizer", json()));
    for (const auto& t : j.value("added_tokens", json::array())) added_.emplace_back(t.at("content").get<std::string>(), t.at("id").get<int64_t>());
    std::sort(added_.begin(), added_.end(), [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
    for (const auto& [s, id] : vocab_) vocab = std::max(vocab, id + 1);
    for (const auto& [s, id] : added_) vocab = std::max(vocab, id + 1);
    // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest from U+0100 on.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      byte_char_[b] = utf8(printable ? static_cast<uint32_t>(b) : next++);
    }
  }
  ~ByteLevelBpe() override {
    if (re_) pcre2_code_free(re_);
  }
  std::string kind() const override { return "byte-level BPE (tokenizer.json)"; }

  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> out;
    size_t pos = 0;
    while (pos < text.size()) {  // added tokens first, leftmost then longest
      size_t best = std::string::npos;
      const std::pair<std::string, int64_t>* hit = nullptr;
      for (const auto& a : added_) {
        const size_t f = text.find(a.first, pos);
        if (f != std::string::npos && (f < best)) {
          best = f;
          hit = &a;
        }
      }
      const size_t end = hit ? best : text.size();
      if (end > pos) encode_segment(text.substr(pos, end - pos), out);
      if (!hit) break;
      out.push_back(hit->second);
      pos = best + hit->first.size();
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(path_ + ": " + what + "; give pre-tokenized JSONL lines ({\"input_ids\": [...]}) instead");
  }

  void compile(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    re_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!re_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("its pre-tokenizer pattern does not compile at offset " + std::to_string(off) + " (" +
           reinterpret_cast<const char*>(msg) + ")");
    }
    pcre2_jit_compile(re_, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
  }

  void read_pre_tokenizer(const json& p) {
    if (p.is_null()) fail("it has no pre_tokenizer");
    const std::string type = p.value("type", std::string());
    if (type == "ByteLevel") {
      if (!p.value("use_regex", true)) fail("a lone ByteLevel pre-tokenizer without its regex is not read");
      add_prefix_space_ = p.value("add_prefix_space", false);
      compile(kGpt2Pattern);
      return;
    }
    const auto& seq = p.value("pretokenizers", json::array());
    if (type != "Sequence" || seq.size() != 2 || seq[0].value("type", std::string()) != "Split" ||
        seq[1].value("type", std::string()) != "ByteLevel")
      fail("pre_tokenizer \"" + type + "\" is not read (Split then ByteLevel, or ByteLevel)");
    const auto& split = seq[0];
    if (!split.contains("pattern") || !split["pattern"].contains("Regex") || split.value("behavior", std::string()) != "Isolated" ||
        split.value("invert", false))
      fail("only a Split on a Regex with behavior Isolated is read");
    if (seq[1].value("use_regex", false) || seq[1].value("add_prefix_space", false))
      fail("ByteLevel after Split must have use_regex and add_prefix_space false");
    compile(split["pattern"]["Regex"].get<std::string>());
  }

  // Regex pieces (matches and the gaps between them), each byte-mapped and merged.
  void encode_segment(std::string text, std::vector<int64_t>& out) const {
    if (add_prefix_space_ && !text.empty() && text[0] != ' ') text = " " + text;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re_, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0, done = 0;
    while (offset <= text.size()) {
      const int rc = pcre2_match(re_, subject, text.size(), offset, offset ? PCRE2_NO_UTF_CHECK : 0, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        throw InputError("a text is not valid UTF-8 and cannot be tokenized with " + path_);
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[0] > done) merge_piece(text.substr(done, ov[0] - done), out);
      if (ov[1] > ov[0]) merge_piece(text.substr(ov[0], ov[1] - ov[0]), out);
      done = ov[1];
      offset = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
    pcre2_match_data_free(md);
    if (done < text.size()) merge_piece(text.substr(done), out);
  }

  void merge_piece(const std::string& piece, std::vector<int64_t>& out) const {
    std::vector<std::string> sym;
    std::string whole;
    for (unsigned char c : piece) {
      sym.push_back(byte_char_[c]);
      whole += byte_char_[c];
    }
    if (ignore_merges_) {
      if (auto it = vocab_.find(whole); it != vocab_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    while (sym.size() > 1) {
      int best = INT_MAX;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = ranks_.find(sym[i] + '\x01' + sym[i + 1]);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == INT_MAX) break;
      const std::string a = sym[at], b = sym[at + 1];
      std::vector<std::string> next;
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          next.push_back(a + b);
          ++i;
        } else {
          next.push_back(sym[i]);
        }
      }
      sym.swap(next);
    }
    for (const auto& s : sym) {
      auto it = vocab_.find(s);
      if (it == vocab_.end()) throw InputError(path_ + ": the symbol \"" + s + "\" is not in the vocabulary");
      out.push_back(it->second);
    }
  }

  std::string path_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int> ranks_;
  std::vector<std::pair<std::string, int64_t>> added_;
  bool ignore_merges_ = false, add_prefix_space_ = false;
  pcre2_code* re_ = nullptr;
  std::string byte_char_[256];
};

}  // namespace

std::shared_ptr<Tokenizer> bpe_tokenizer(const std::string& path) {
  try {
    return std::make_shared<ByteLevelBpe>(path);
  } catch (const json::exception& e) {  // a field of the wrong type, say
    throw InputError(path + ": not a tokenizer.json clues reads (" + std::string(e.what()).substr(0, 200) + ")");
  }
}

}  // namespace clues
