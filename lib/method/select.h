// The global threshold from the anchor scores, the selection it implies, and the metrics
// of low-quality detection (clean is the positive class; higher scores mean better).
#pragma once

#include <cstdint>
#include <vector>

#include "lib/config/config.h"

namespace clues {

double mean(const std::vector<double>& v);
// Linear-interpolated quantile q in [0,1] (numpy's default "linear" method).
double quantile(std::vector<double> v, double q);

// τ from the anchor scores: mean, quantile or fixed value (threshold=ratio has no τ: NaN).
double anchor_threshold(const std::vector<double>& anchor_scores, const SelectConfig& sc);

// 1 where score >= tau.
std::vector<uint8_t> select_at_threshold(const std::vector<double>& scores, double tau);

// Keeps the k highest scores (ties broken by input order, earlier first).
std::vector<uint8_t> select_top_k(const std::vector<double>& scores, int64_t k);
// Keeps the round(ratio * n) highest scores (the fixed keep-ratio baseline).
std::vector<uint8_t> select_top_ratio(const std::vector<double>& scores, double ratio);

// -v (losses and influences rank lower-is-better; rankings are higher-is-better).
std::vector<double> negated(const std::vector<double>& v);

// Baseline selections of k samples of one silo (the comparison rows):
// perplexity: the k lowest response losses under the warm-up's final model.
std::vector<uint8_t> select_lowest_loss(const std::vector<double>& losses, int64_t k);
// IFD (instruction-following difficulty) = loss(answer | prompt) / loss(answer alone);
// its authors keep the highest IFD among samples with IFD < 1 (at most k of them).
std::vector<double> ifd(const std::vector<double>& loss_with_prompt, const std::vector<double>& loss_alone);
std::vector<uint8_t> select_ifd(const std::vector<double>& ifd_values, int64_t k);
// The ranking IFD selection implies (higher is kept first; IFD >= 1 all rank last, tied).
std::vector<double> ifd_ranking(const std::vector<double>& ifd_values);
// k of n samples drawn uniformly, a pure function of (seed, silo).
std::vector<uint8_t> select_random(int64_t n, int64_t k, uint64_t seed, int64_t silo);

// 1-based ranks of `values` in ascending order, tied values given the mean of their ranks.
std::vector<double> average_ranks(const std::vector<double>& values);
// The blend ranking of one silo (select.rank=blend, the blend row): (1 - loss_weight) times
// the CLUES score's within-silo percentile plus loss_weight times the negated loss's, each
// percentile an average rank over n (ties averaged). Higher is kept first.
std::vector<double> blend_ranking(const std::vector<double>& score, const std::vector<double>& loss, double loss_weight);
// The paper's selection of a silo: the samples at or above tau (threshold=ratio: the
// round(keep_ratio·n) highest scores).
std::vector<uint8_t> select_by_score(const std::vector<double>& score, double tau, const SelectConfig& sc);
// The k highest of the blend ranking.
std::vector<uint8_t> select_blend(const std::vector<double>& score, const std::vector<double>& loss, int64_t k,
                                  double loss_weight);
// Area under the ROC curve of `scores` ranking clean (label 0) above low quality (label 1);
// ties count one half. NaN when only one class is present.
double auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels);

struct Detection {
  double precision = 0, recall = 0, f1 = 0;  // of "selected" against "clean"
  int64_t tp = 0, fp = 0, fn = 0;
};
Detection detection(const std::vector<uint8_t>& selected, const std::vector<uint8_t>& labels);

}  // namespace clues
