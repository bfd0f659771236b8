// Threshold, selection and detection metrics (lib/method/select.h).
#include "lib/method/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

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
  if (sc.threshold == ThresholdRule::kFixed) return sc.value;
  if (sc.threshold == ThresholdRule::kRatio) return std::numeric_limits<double>::quiet_NaN();
  if (anchor_scores.empty()) throw InputError("the anchor set has no scores; it needs at least one sample");
  if (sc.threshold == ThresholdRule::kQuantile) return quantile(anchor_scores, sc.quantile);
  return mean(anchor_scores);
}

std::vector<uint8_t> select_at_threshold(const std::vector<double>& scores, double tau) {
  std::vector<uint8_t> out(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] >= tau ? 1 : 0;
  return out;
}

std::vector<uint8_t> select_top_k(const std::vector<double>& scores, int64_t k) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<uint8_t> out(scores.size(), 0);
  for (size_t i = 0; static_cast<int64_t>(i) < k && i < idx.size(); ++i) out[idx[i]] = 1;
  return out;
}

std::vector<uint8_t> select_top_ratio(const std::vector<double>& scores, double ratio) {
  return select_top_k(scores, std::llround(ratio * static_cast<double>(scores.size())));
}

std::vector<double> negated(const std::vector<double>& v) {
  std::vector<double> out(v.size());
  std::transform(v.begin(), v.end(), out.begin(), [](double x) { return -x; });
  return out;
}

std::vector<uint8_t> select_lowest_loss(const std::vector<double>& losses, int64_t k) {
  return select_top_k(negated(losses), k);
}

std::vector<double> ifd(const std::vector<double>& loss_with_prompt, const std::vector<double>& loss_alone) {
  if (loss_with_prompt.size() != loss_alone.size()) throw InputError("ifd: loss vectors differ in length");
  std::vector<double> out(loss_alone.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = loss_alone[i] > 0 ? loss_with_prompt[i] / loss_alone[i] : std::numeric_limits<double>::infinity();
  return out;
}

std::vector<double> ifd_ranking(const std::vector<double>& ifd_values) {
  std::vector<double> r(ifd_values.size());
  std::transform(ifd_values.begin(), ifd_values.end(), r.begin(), [](double v) { return v < 1.0 ? v : -1.0; });
  return r;
}

std::vector<uint8_t> select_ifd(const std::vector<double>& ifd_values, int64_t k) {
  int64_t below = 0;
  for (double v : ifd_values) below += v < 1.0;
  return select_top_k(ifd_ranking(ifd_values), std::min(k, below));
}

std::vector<uint8_t> select_random(int64_t n, int64_t k, uint64_t seed, int64_t silo) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(silo), 0x5e1ecu};
  std::mt19937_64 rng(seq);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  std::vector<uint8_t> out(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < std::min(k, n); ++i) out[static_cast<size_t>(idx[static_cast<size_t>(i)])] = 1;
  return out;
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(values.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && values[idx[j]] == values[idx[i]]) ++j;
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) rank[idx[k]] = avg_rank;
    i = j;
  }
  return rank;
}

std::vector<double> blend_ranking(const std::vector<double>& score, const std::vector<double>& loss, double loss_weight) {
  if (score.size() != loss.size()) throw InputError("blend: scores and losses differ in length");
  const auto rs = average_ranks(score), rl = average_ranks(negated(loss));
  const double n = static_cast<double>(score.size());
  std::vector<double> out(score.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = ((1 - loss_weight) * rs[i] + loss_weight * rl[i]) / n;
  return out;
}

std::vector<uint8_t> select_by_score(const std::vector<double>& score, double tau, const SelectConfig& sc) {
  return sc.threshold == ThresholdRule::kRatio ? select_top_ratio(score, sc.keep_ratio) : select_at_threshold(score, tau);
}

std::vector<uint8_t> select_blend(const std::vector<double>& score, const std::vector<double>& loss, int64_t k,
                                  double loss_weight) {
  return select_top_k(blend_ranking(score, loss, loss_weight), k);
}

double auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
  if (scores.size() != labels.size()) throw InputError("auroc: scores and labels differ in length");
  // Mann-Whitney U with average ranks for ties.
  const auto rank = average_ranks(scores);
  double rank_sum_pos = 0;
  int64_t n_pos = 0, n_neg = 0;
  for (size_t i = 0; i < rank.size(); ++i)
    if (labels[i] == 0) rank_sum_pos += rank[i];
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
