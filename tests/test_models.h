// Small model configurations and parameter perturbations shared by the LibTorch tests.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/model/model.h"

namespace clues::testing {

// A 2-layer, 2-head decoder small enough for gradient checks.
inline ModelConfig test_model_config(const std::string& finetune, int64_t d_model, int64_t hidden, int64_t lora_rank,
                                     std::vector<std::string> lora_targets) {
  ModelConfig c;
  c.d_model = d_model;
  c.heads = 2;
  c.layers = 2;
  c.hidden = hidden;
  c.finetune = parse_choice<Finetune>("model.finetune", finetune);
  c.lora_rank = lora_rank;
  c.lora_targets = std::move(lora_targets);
  return c;
}

// Gives LoRA B (zero at initialisation) non-zero values so that every LoRA gradient is
// non-zero; with `norms`, RMSNorm gains move away from 1 too.
inline void perturb(Decoder& m, bool norms) {
  torch::NoGradGuard ng;
  for (auto& p : m->named_parameters(true)) {
    if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0.0, 0.3);
    if (norms && p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
  }
}

}  // namespace clues::testing
