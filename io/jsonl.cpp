// JSONL and label-file readers (io/jsonl.h), on nlohmann::json.
#include "io/jsonl.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/error.h"

namespace clues {

namespace {

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// The lines of `text` without their newlines (and without a CR before it unless `keep_cr`:
// selected/ copies lines byte for byte). Blank lines at the end of the file are no lines.
std::vector<std::string> split_lines(const std::string& text, bool keep_cr = false) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!keep_cr && !line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  while (!lines.empty() && blank(lines.back())) lines.pop_back();
  return lines;
}

// nlohmann refuses a number beyond double's range (1e999) wherever it stands: the SAX
// pass below finds where, so that such a number in a field clues ignores costs no line.
struct FindOverflow : nlohmann::json_sax<nlohmann::json> {
  size_t at = std::string::npos;
  std::string token;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& ex) override {
    if (ex.id == 406) at = position, token = last_token;
    return false;
  }
};

// Parses one line; a number out of double's range becomes null (a field that needs a value
// then says it lacks one), any other fault throws as nlohmann does.
nlohmann::json parse_line(std::string line) {
  for (int tries = 0;; ++tries) {
    try {
      return nlohmann::json::parse(line);
    } catch (const nlohmann::json::out_of_range& e) {
      FindOverflow find;
      nlohmann::json::sax_parse(line, &find);
      const size_t start = find.at == std::string::npos ? find.at : find.at - std::min(find.at, find.token.size());
      if (e.id != 406 || tries >= 1000 || start == std::string::npos || line.compare(start, find.token.size(), find.token) != 0)
        throw;
      line.replace(start, find.token.size(), "null");
    }
  }
}

[[noreturn]] void bad_line(const std::string& path, size_t line_no, std::string why) {
  // A parser's message may quote the line: keep it short, whatever the line's length.
  constexpr size_t kMax = 240;
  if (why.size() > kMax) why = why.substr(0, kMax) + "... (" + std::to_string(why.size() - kMax) + " more characters)";
  std::ostringstream os;
  os << path << ":" << line_no << ": " << why
     << "\nHINT: every line must be one JSON object with string fields \"instruction\" and "
        "\"output\" (and optionally \"input\"), or a pre-tokenized sample: \"input_ids\" (token ids) "
        "and optionally \"response_mask\" (0 for prompt tokens, then 1 for response tokens); fix or remove that line.";
  throw InputError(os.str());
}

}  // namespace

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path + " is a directory, not a file: give the path of the file itself");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path + " for reading: check the path");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::vector<std::string> read_lines(const std::string& path) { return split_lines(read_text(path)); }

std::vector<Record> read_jsonl(const std::string& path) {
  const std::vector<std::string> lines = split_lines(read_text(path), /*keep_cr=*/true);
  if (lines.empty()) throw InputError(path + ": the file is empty; a data set needs at least one sample");
  std::vector<Record> records;
  records.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t line_no = i + 1;
    if (blank(lines[i])) bad_line(path, line_no, "empty line");
    const bool crlf = lines[i].back() == '\r';
    nlohmann::json j;
    try {
      j = parse_line(crlf ? lines[i].substr(0, lines[i].size() - 1) : lines[i]);
    } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers out of range (found by fuzz_jsonl)
      bad_line(path, line_no, std::string("not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) bad_line(path, line_no, "not a JSON object");
    Record r;
    r.raw = lines[i];
    if (auto ids = j.find("input_ids"); ids != j.end()) {  // pre-tokenized
      if (!ids->is_array() || ids->empty()) bad_line(path, line_no, "field \"input_ids\" is not a non-empty array");
      for (const auto& v : *ids) {
        if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > (uint64_t{1} << 40) : v.get<int64_t>() < 0))
          bad_line(path, line_no, "field \"input_ids\" holds a value that is not a token id");
        r.input_ids.push_back(v.get<int64_t>());
      }
      r.response_start = 1;  // without a mask: every token after the first
      if (auto m = j.find("response_mask"); m != j.end()) {
        if (!m->is_array() || m->size() != ids->size())
          bad_line(path, line_no, "field \"response_mask\" must be an array as long as \"input_ids\"");
        int64_t first = -1;
        for (size_t t = 0; t < m->size(); ++t) {
          const auto& v = (*m)[t];
          if (!v.is_number_integer() || (v != 0 && v != 1)) bad_line(path, line_no, "field \"response_mask\" must hold 0 and 1 only");
          if (v == 1 && first < 0) first = static_cast<int64_t>(t);
          if (v == 0 && first >= 0)
            bad_line(path, line_no, "field \"response_mask\" must be 0s then 1s (one response at the end of the sample)");
        }
        if (first < 1) bad_line(path, line_no, "field \"response_mask\" must start with 0 (the first token is never predicted) and hold a 1");
        r.response_start = first;
      }
      records.push_back(std::move(r));
      continue;
    }
    for (const char* key : {"instruction", "output"}) {
      auto it = j.find(key);
      if (it == j.end()) bad_line(path, line_no, std::string("missing field \"") + key + "\"");
      if (!it->is_string()) bad_line(path, line_no, std::string("field \"") + key + "\" is not a string");
    }
    r.instruction = j["instruction"].get<std::string>();
    r.output = j["output"].get<std::string>();
    if (auto it = j.find("input"); it != j.end() && !it->is_null()) {
      if (!it->is_string()) bad_line(path, line_no, "field \"input\" is not a string");
      r.input = it->get<std::string>();
    }
    records.push_back(std::move(r));
  }
  return records;
}

std::vector<uint8_t> read_labels(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  std::vector<uint8_t> labels;
  labels.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string s = lines[i];
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    if (s == "0" || s == "1") {
      labels.push_back(s == "1" ? 1 : 0);
    } else {
      throw InputError(path + ":" + std::to_string(i + 1) + ": expected 0 (clean) or 1 (low quality), got \"" +
                       lines[i].substr(0, 40) + (lines[i].size() > 40 ? "...\"" : "\""));
    }
  }
  return labels;
}

}  // namespace clues
