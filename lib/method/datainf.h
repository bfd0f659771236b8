// DataInf (Kwon et al., ICLR 2024), a comparison row: the closed-form influence of each
// training sample on the validation loss, for parameter-efficient fine-tuning. Per trainable
// tensor l (each LoRA A and B), with per-sample gradients g_il of the n training samples
// and the validation set's mean gradient v_l at the final model:
//   λ_l = mean_i mean(g_il²) / lambda_const                      (the authors' damping, 10)
//   h_l = 1/(n·λ_l) · Σ_i (v_l − c_il·g_il),  c_il = ⟨v_l, g_il⟩ / (λ_l + ‖g_il‖²)
//   influence_k = −Σ_l ⟨h_l, g_kl⟩        (lower: up-weighting k lowers the validation loss)
// as in the authors' released code (compute_IF). Streams the per-sample gradients in three
// passes of the batched engine, so no n × P matrix is ever held.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "lib/model/model.h"

namespace clues {

std::vector<double> datainf_influence(Decoder& model, const std::vector<Encoded>& train, const torch::Tensor& val_grad,
                                      int64_t batch, int64_t row_len, double lambda_const = 10.0);

}  // namespace clues
