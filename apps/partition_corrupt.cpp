// Corruption kinds and their injection (apps/partition_corrupt.h). Text is handled as
// UTF-8 code points, so a truncated, shuffled or garbled answer stays valid UTF-8.
#include "apps/partition_corrupt.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "io/error.h"

namespace clues {

namespace {

std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> cps;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 || cps.empty()) cps.emplace_back();
    cps.back() += s[i];
  }
  return cps;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!w.empty()) out.push_back(std::move(w));
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// Shuffles, and if that left the order as it was, rotates by one.
void reorder(std::vector<std::string>& v, PartitionRng& rng) {
  const auto before = v;
  rng.shuffle(v);
  if (v == before && v.size() > 1) std::rotate(v.begin(), v.begin() + 1, v.end());
}

// A donor's answer different from `s`'s (a few tries), from `from`; s's own if none.
std::string borrow(const PoolSample& s, const std::vector<size_t>& from, const Donors& d, PartitionRng& rng) {
  std::string pick = s.output;
  for (int attempt = 0; attempt < 8 && !from.empty(); ++attempt) {
    pick = (*d.samples)[from[rng.below(from.size())]].output;
    if (pick != s.output) break;
  }
  return pick;
}

std::string swap_answer(const PoolSample& s, const Donors& d, PartitionRng& rng) {
  const auto& same = d.by_domain[static_cast<size_t>(s.domain)];
  if (same.size() > 1) return borrow(s, same, d, rng);
  std::vector<size_t> all;  // a domain of one sample: any other sample's answer
  for (const auto& v : d.by_domain) all.insert(all.end(), v.begin(), v.end());
  return borrow(s, all, d, rng);
}

std::string truncate_answer(const PoolSample& s, const Donors&, PartitionRng& rng) {
  auto cps = code_points(s.output);
  if (cps.size() <= 1) return "";
  // Keep 20% to 60% of the code points (at least one, never all).
  const double keep = 0.2 + 0.4 * rng.uniform();
  cps.resize(std::max<size_t>(1, static_cast<size_t>(std::floor(keep * static_cast<double>(cps.size())))));
  return join(cps, "");
}

std::string shuffle_words(const PoolSample& s, const Donors&, PartitionRng& rng) {
  auto w = words(s.output);
  if (w.size() >= 2) {
    reorder(w, rng);
    return join(w, " ");
  }
  auto cps = code_points(s.output);  // a single word: its letters
  reorder(cps, rng);
  return join(cps, "");
}

std::string garble(const PoolSample& s, const Donors&, PartitionRng& rng) {
  static const std::string kNoise = "abcdefghijklmnopqrstuvwxyzXQZJK0123456789#%&*@~^";
  auto cps = code_points(s.output);
  std::vector<size_t> letters;
  for (size_t i = 0; i < cps.size(); ++i)
    if (cps[i] != " " && cps[i] != "\n" && cps[i] != "\t") letters.push_back(i);
  if (letters.empty()) return s.output;
  size_t changed = 0;
  for (size_t i : letters) {
    if (rng.uniform() < 0.3) {  // about a third of the characters replaced
      cps[i] = std::string(1, kNoise[rng.below(kNoise.size())]);
      ++changed;
    }
  }
  if (!changed) cps[letters[rng.below(letters.size())]] = std::string(1, kNoise[rng.below(kNoise.size())]);
  return join(cps, "");
}

std::string echo_prompt(const PoolSample& s, const Donors&, PartitionRng&) { return s.input.empty() ? s.instruction : s.instruction + "\n" + s.input; }

std::string empty_answer(const PoolSample&, const Donors&, PartitionRng&) { return ""; }

std::string refusal(const PoolSample&, const Donors&, PartitionRng& rng) {
  static const char* kRefusals[] = {
      "I'm sorry, but I can't help with that.",
      "As an AI language model, I am unable to answer this request.",
      "I cannot provide an answer to this question.",
      "Sorry, I don't know.",
  };
  return kRefusals[rng.below(sizeof kRefusals / sizeof kRefusals[0])];
}

std::string cross_domain(const PoolSample& s, const Donors& d, PartitionRng& rng) {
  std::vector<size_t> others;  // domains other than s's that lend answers
  for (size_t dom = 0; dom < d.by_domain.size(); ++dom)
    if (static_cast<int>(dom) != s.domain && !d.by_domain[dom].empty()) others.push_back(dom);
  if (others.empty()) return s.output;  // one domain only: refused by the option check
  return borrow(s, d.by_domain[others[rng.below(others.size())]], d, rng);
}

}  // namespace

const std::vector<CorruptionKind>& corruption_kinds() {
  static const std::vector<CorruptionKind> table = {
      {"swap", "the answer of another sample of the same domain", swap_answer},
      {"truncate", "the answer cut to its first 20-60% of characters", truncate_answer},
      {"shuffle", "the answer's words in random order (a single word: its letters)", shuffle_words},
      {"garble", "about 30% of the answer's characters replaced by random ones", garble},
      {"echo", "the prompt (instruction, and input if any) repeated as the answer", echo_prompt},
      {"empty", "an empty answer", empty_answer},
      {"refusal", "a canned refusal (\"I'm sorry, but I can't help with that.\", ...)", refusal},
      {"cross-domain", "the answer of a sample of another domain (needs two domains)", cross_domain},
  };
  return table;
}

int find_corruption(const std::string& name) {
  std::string names;
  const auto& t = corruption_kinds();
  for (size_t i = 0; i < t.size(); ++i) {
    if (name == t[i].name) return static_cast<int>(i);
    names += std::string(names.empty() ? "" : ", ") + t[i].name;
  }
  throw InputError("--corruptions: unknown corruption kind \"" + name + "\"; the kinds are " + names);
}

int corrupt(const PoolSample& s, int kind, const Donors& donors, PartitionRng& rng, std::string& output) {
  const auto& t = corruption_kinds();
  output = t[static_cast<size_t>(kind)].apply(s, donors, rng);
  for (const char* fallback : {"refusal", "empty"}) {
    if (output != s.output) break;
    kind = find_corruption(fallback);
    output = t[static_cast<size_t>(kind)].apply(s, donors, rng);
  }
  return kind;
}

std::string with_output(const std::string& raw, const std::string& output) {
  auto j = nlohmann::ordered_json::parse(raw);
  j["output"] = output;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void inject(StudySilo& silo, const std::vector<PoolSample>& samples, double ratio, const std::vector<int>& kinds,
            const Donors& donors, PartitionRng& rng) {
  const size_t n = silo.samples.size();
  const size_t n_bad = std::min(n, static_cast<size_t>(std::llround(ratio * static_cast<double>(n))));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  rng.shuffle(order);
  silo.lines.resize(n);
  silo.labels.assign(n, 0);
  silo.kind.assign(n, -1);
  for (size_t i = 0; i < n; ++i) silo.lines[i] = samples[silo.samples[i]].raw;
  for (size_t j = 0; j < n_bad; ++j) {
    const size_t i = order[j];
    const PoolSample& s = samples[silo.samples[i]];
    std::string output;
    silo.kind[i] = corrupt(s, kinds[j % kinds.size()], donors, rng, output);
    silo.labels[i] = 1;
    silo.lines[i] = with_output(s.raw, output);
  }
}

}  // namespace clues
