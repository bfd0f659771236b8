// What the LibTorch unit tests (test_torch.cpp, test_evaluate.cpp) share: a tiny model
// configuration, three encoded samples, and a model trained a few steps on them.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "lib/method/train.h"
#include "lib/model/model.h"
#include "synthetic.h"
#include "test_models.h"

namespace clues::testing {


inline ModelConfig tiny(const std::string& finetune) {
  return clues::testing::test_model_config(finetune, 8, 12, 2, {"q", "v", "down"});
}

inline std::vector<Encoded> samples() {
  std::vector<Encoded> out;
  out.push_back(encode_sample({"Reverse.", "abc", "cba", ""}, 64));
  out.push_back(encode_sample({"Reverse the letters.", "house", "esuoh", ""}, 64));
  out.push_back(encode_sample({"Hi", "", "yo", ""}, 64));
  return out;
}

inline void perturb_lora(Decoder& m) { clues::testing::perturb(m, false); }

// A model wide enough to learn the samples quickly.
inline Decoder learner(const std::string& finetune, uint64_t seed) {
  ModelConfig mc = tiny(finetune);
  mc.d_model = 32;
  mc.hidden = 48;
  return make_model(mc, seed);
}

// One round of `steps` AdamW steps (batches of `batch`, lr 1e-2) on `data`; returns the state.
inline AdamState train_on(Decoder& m, const std::vector<Encoded>& data, int64_t steps, int64_t batch) {
  TrainConfig tc;
  tc.rounds = 1;
  tc.local_steps = steps;
  tc.batch_size = batch;
  tc.lr = 1e-2;
  AdamState st = AdamState::zeros_like(m->trainable_tensors());
  train_round(m, data, st, tc, 0, 0, 0);
  return st;
}

}  // namespace clues::testing
