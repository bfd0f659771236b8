// Evaluation of a model on held-out data, and the per-sample losses the perplexity and
// IFD baselines rank by: mean response loss, perplexity, and exact match of greedy
// decoding against the reference answer.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "lib/model/model.h"

namespace clues {

// Mean cross-entropy over each sample's response tokens, in batches of `batch` samples.
std::vector<double> sample_losses(Decoder& model, const std::vector<Encoded>& data, int64_t batch);
// In one forward pass per batch: each sample's mean response loss (as sample_losses) and
// the largest cross-entropy among its response tokens.
struct LossColumns {
  std::vector<double> mean, max_token;
};
LossColumns sample_loss_columns(Decoder& model, const std::vector<Encoded>& data, int64_t batch);

// The sample with its prompt removed: <BOS>{output}<EOS>, loss over the same tokens.
Encoded answer_alone(const Encoded& e, int64_t bos);

// Greedy decoding from each sample's prompt for at most as many tokens as its reference
// response (with EOS); 1 where the decoded tokens equal the reference exactly.
std::vector<uint8_t> greedy_exact_match(Decoder& model, const std::vector<Encoded>& data, int64_t batch);

struct TestMetrics {
  double loss = 0;         // mean response loss over the samples
  double perplexity = 0;   // exp(loss)
  double exact_match = 0;  // share of exact greedy answers
};
TestMetrics evaluate(Decoder& model, const std::vector<Encoded>& data, int64_t batch);

}  // namespace clues
