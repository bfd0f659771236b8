// The model a run trains, as every phase and collaboration mode sees it: the decoder, its
// trainable tensors by name and as one list, their count, and the base's trainable
// weights as one flat vector (every fine-tuning starts from them).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "lib/model/checkpoint.h"
#include "lib/model/model.h"

namespace clues {

struct Trainable {
  Decoder model{nullptr};
  NamedTensors named;                 // trainable parameters by name
  std::vector<torch::Tensor> params;  // the same tensors
  int64_t P = 0;                      // trainable values
  torch::Tensor theta0;               // the base's trainable weights (flat)
  torch::Tensor score_mask;           // 1 where a value enters the score's inner product (score.modules); undefined: all
};

}  // namespace clues
