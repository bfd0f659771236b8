// Walking samples in batches: the one loop every engine, evaluation, scoring phase and
// benchmark uses to cut a list of n items into consecutive batches of at most `batch`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace clues {

// Calls fn(begin, end) for [0, batch), [batch, 2·batch), ... up to n (the last one shorter).
template <typename Fn>
void for_each_batch(int64_t n, int64_t batch, Fn&& fn) {
  for (int64_t begin = 0; begin < n; begin += batch) fn(begin, std::min(n, begin + batch));
}

// Number of batches for_each_batch makes.
inline int64_t batch_count(int64_t n, int64_t batch) { return (n + batch - 1) / batch; }

// Pointers to data[begin, end).
template <typename T>
std::vector<const T*> batch_of(const std::vector<T>& data, int64_t begin, int64_t end) {
  std::vector<const T*> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(end - begin, 0)));
  for (int64_t i = begin; i < end; ++i) out.push_back(&data[static_cast<size_t>(i)]);
  return out;
}

}  // namespace clues
