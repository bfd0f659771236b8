// CLUES scoring at one checkpoint: the validation gradient ḡ, the preconditioner Γ
// (Adam, from a silo's moments, or identity for SGD) and the per-sample inner products
// ⟨Γ(g_i), ḡ⟩. The loop engine here (one backward per sample) is the reference that any
// faster engine is tested against.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/model/model.h"

namespace clues {

// Γ(g) = m'/sqrt(v' + eps) with m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g² (Adam), or
// Γ(g) = g (SGD, when m and v are undefined). With momentum off (precondition=rms),
// Γ(g) = g/sqrt(v' + eps): the sample's own share of the Adam step, without the β1·m term
// that adds the same constant ⟨β1·m/sqrt(v'), ḡ⟩ to every score of a silo. With unit,
// Γ(g) is scaled to unit length (cosine scores). m, v, g are flat float32 [P] or [B,P].
struct Preconditioner {
  torch::Tensor m, v;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool momentum = true;
  bool unit = false;
  bool adam() const { return v.defined(); }
  torch::Tensor apply(const torch::Tensor& g) const;
};

// Flat gradient of one sample's loss over the trainable parameters (batch of one).
torch::Tensor sample_grad(Decoder& model, const Encoded& sample);

// Flat gradient of the SUM of the per-sample losses of `samples` (one padded batch).
torch::Tensor grad_sum(Decoder& model, const std::vector<const Encoded*>& samples);

// Mean gradient of the samples' losses, on this rank alone: grad_sum over consecutive
// chunks of `batch` samples, added in chunk order (so any rank computes the same bits).
torch::Tensor mean_grad(Decoder& model, const std::vector<Encoded>& samples, int64_t batch);

// Called after each scored sample with (done, total).
using ProgressFn = std::function<void(int64_t, int64_t)>;

// Reference engine: ⟨Γ(g_i), target⟩ for every sample, one backward per sample.
std::vector<double> score_loop(Decoder& model, const std::vector<Encoded>& samples, const torch::Tensor& target,
                               const Preconditioner& pre, const ProgressFn& progress = nullptr);

// score_i += lr · dot_i / C: one checkpoint's share of the mean over C checkpoints.
void accumulate_scores(std::vector<double>& acc, const std::vector<double>& dots, double lr, int64_t checkpoints);

// score.modules: a flat mask over the trainable values (1 where the tensor enters the
// score's inner product), in the order of `named`. An entry matches a tensor when its
// dot-separated parts appear in the tensor's name as consecutive whole parts ("q" matches
// "blocks.0.q.lora_A", "blocks.1" every tensor of block 1). Undefined when `modules` is
// empty (every tensor enters); throws InputError naming an entry that matches nothing.
torch::Tensor module_mask(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                          const std::vector<std::string>& modules);

// The target ḡ a silo's samples are scored against, from the validation sets' mean
// gradients (`domains[d]` names set d; one pooled set has domain ""): the pooled one, or
// Σ_d w_d ḡ_d over the domains (w = 1 for the silo's own domain, `other_domains` else).
torch::Tensor domain_target(const std::vector<std::string>& domains, const std::vector<torch::Tensor>& gbars,
                            const std::string& silo, double other_domains);

}  // namespace clues
