// Fast scoring engines (docs/method.md), exact against the loop engine in lib/method/score.h:
//   batched: one forward and one backward per packed batch; each layer with trainable
//            parameters records its input x and output-gradient δ, and per-sample
//            gradients come out of one contraction per layer for the whole batch.
//   ghost:   for SGD scoring only, ⟨g_i, v⟩ per layer from x and δ without ever forming
//            a per-sample gradient (⟨∇_W ℓ_i, V⟩ = Σ_t δ_tᵀ V x_t).
// Coverage: every trainable parameter of the model: Linear weights and biases, LoRA A and
// B, RMSNorm gains and the token embedding (full fine-tuning; a head tied to the embedding
// adds its share to the embedding's gradient); anything else raises an error.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "lib/config/config.h"
#include "lib/model/model.h"
#include "lib/method/score.h"

namespace clues {

// Per-sample gradients [n, P] (float32, trainable() order) of the samples' losses.
torch::Tensor batched_grads(Decoder& model, const std::vector<const Encoded*>& samples, int64_t row_len);

// ⟨g_i, target⟩ for each sample [n] (float64), without per-sample gradients.
torch::Tensor ghost_dots(Decoder& model, const std::vector<const Encoded*>& samples, const torch::Tensor& target,
                         int64_t row_len);

// Scores every sample with the engine named in `sc` (loop | batched | ghost), in batches of
// sc.batch_size samples packed into rows of row_len tokens. ghost needs an SGD preconditioner.
// With `features` (batched engine only), also returns project(Γ(g_i), sc.project_dim,
// sc.project_seed) of every sample, [n, k] float32, for later re-scoring.
std::vector<double> score_samples(const ScoreConfig& sc, Decoder& model, const std::vector<Encoded>& samples,
                                  const torch::Tensor& target, const Preconditioner& pre, int64_t row_len,
                                  const ProgressFn& progress = nullptr, torch::Tensor* features = nullptr);

// Seeded Rademacher projection of flat gradients [n, P] to [n, k], scaled by 1/sqrt(k), so
// inner products are preserved in expectation. The [P, k] matrix is generated in blocks of
// rows on the fly and never stored whole: block b of rows comes from seed + b.
torch::Tensor project(const torch::Tensor& grads, int64_t k, uint64_t seed, int64_t block_rows = 4096);

}  // namespace clues
