// Synthetic instruction data for tests: "reverse the letters" samples, a share of them
// corrupted (answer of another sample, or garbage), with labels. No dictionaries needed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace clues::testing {

inline std::string random_word(std::mt19937& rng, int min_len, int max_len) {
  std::uniform_int_distribution<int> len(min_len, max_len), ch('a', 'z');
  std::string w(static_cast<size_t>(len(rng)), 'a');
  for (auto& c : w) c = static_cast<char>(ch(rng));
  return w;
}

// Writes n samples to path (and labels to labels_path when not empty); `bad` of them corrupted.
inline void write_reverse_set(const std::string& path, const std::string& labels_path, int n, int bad, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> words;
  for (int i = 0; i < n; ++i) words.push_back(random_word(rng, 3, 8));
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> corrupt(static_cast<size_t>(n), false);
  for (int i = 0; i < bad && i < n; ++i) corrupt[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  std::ofstream out(path, std::ios::binary);
  std::ofstream lab;
  if (!labels_path.empty()) lab.open(labels_path);
  for (int i = 0; i < n; ++i) {
    const std::string& w = words[static_cast<size_t>(i)];
    std::string ans(w.rbegin(), w.rend());
    if (corrupt[static_cast<size_t>(i)]) ans = (i % 2) ? words[static_cast<size_t>((i + 1) % n)] : random_word(rng, 2, 9);
    out << R"({"instruction":"Reverse the letters of the word.","input":")" << w << R"(","output":")" << ans
        << R"(","id":)" << i << "}\n";
    if (lab.is_open()) lab << (corrupt[static_cast<size_t>(i)] ? 1 : 0) << "\n";
  }
}

}  // namespace clues::testing
