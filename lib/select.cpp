// Threshold, selection and detection metrics (lib/select.h).
#include "lib/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "io/error.h"

namespace clues {

double mean(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double anchor_threshold(const std::vector<double>& anchor_scores, const SelectConfig& sc) {
  if (sc.threshold == "fixed") return sc.value;
  if (sc.threshold == "ratio") return std::numeric_limits<double>::quiet_NaN();
  if (anchor_scores.empty()) throw InputError("the anchor set has no scores; it needs at least one sample");
  if (sc.threshold == "quantile") return quantile(anchor_scores, sc.quantile);
  return mean(anchor_scores);
}

std::vector<uint8_t> select_at_threshold(const std::vector<double>& scores, double tau) {
  std::vector<uint8_t> out(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] >= tau ? 1 : 0;
  return out;
}

std::vector<uint8_t> select_top_ratio(const std::vector<double>& scores, double ratio) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  const size_t keep = static_cast<size_t>(std::llround(ratio * static_cast<double>(scores.size())));
  std::vector<uint8_t> out(scores.size(), 0);
  for (size_t i = 0; i < keep && i < idx.size(); ++i) out[idx[i]] = 1;
  return out;
}

double auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
  if (scores.size() != labels.size()) throw InputError("auroc: scores and labels differ in length");
  // Mann-Whitney U with average ranks for ties.
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum_pos = 0;
  int64_t n_pos = 0, n_neg = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k)
      if (labels[idx[k]] == 0) rank_sum_pos += avg_rank;
    i = j;
  }
  for (uint8_t l : labels) (l == 0 ? n_pos : n_neg) += 1;
  if (n_pos == 0 || n_neg == 0) return std::numeric_limits<double>::quiet_NaN();
  const double u = rank_sum_pos - static_cast<double>(n_pos) * static_cast<double>(n_pos + 1) / 2.0;
  return u / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
}

Detection detection(const std::vector<uint8_t>& selected, const std::vector<uint8_t>& labels) {
  if (selected.size() != labels.size()) throw InputError("detection: selection and labels differ in length");
  Detection d;
  for (size_t i = 0; i < selected.size(); ++i) {
    const bool clean = labels[i] == 0;
    if (selected[i] && clean) ++d.tp;
    if (selected[i] && !clean) ++d.fp;
    if (!selected[i] && clean) ++d.fn;
  }
  d.precision = d.tp + d.fp ? static_cast<double>(d.tp) / static_cast<double>(d.tp + d.fp) : 0.0;
  d.recall = d.tp + d.fn ? static_cast<double>(d.tp) / static_cast<double>(d.tp + d.fn) : 0.0;
  d.f1 = d.precision + d.recall > 0 ? 2 * d.precision * d.recall / (d.precision + d.recall) : 0.0;
  return d;
}

}  // namespace clues
