// Model merging (collab=merge): the silos' separately fine-tuned weights become one model,
// by PEFT's definitions (peft.utils.merge_utils and LoraModel.add_weighted_adapter), so a
// merged adapter is the one PEFT would make from the same adapters:
//   ties             trim each task tensor to its `density` largest magnitudes, elect the sign
//                    of each entry from the sum of the trimmed tensors, average the weighted
//                    entries that agree with it (disjoint mean)
//   linear           the weighted sum of the task tensors
//   task_arithmetic  LoRA: the weighted sum of the full updates w_j·s_j·B_j·A_j, cut to the
//                    adapters' rank by SVD (PEFT's "svd"); full weights: as linear
// For LoRA adapters, ties and linear merge the A matrices and the B matrices separately with
// weights sqrt(w_j·s_j) (s_j: the adapter's scaling alpha/r), as PEFT does; the merged
// adapter has scaling 1 (PEFT gives it lora_alpha = r). For full weights the task tensors
// are the updates θ_j − θ_0, and the result is θ_0 plus their merge.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "lib/config/config.h"

namespace clues {

// PEFT's merge_utils, on task tensors of one shape with one weight each.
torch::Tensor magnitude_prune(const torch::Tensor& t, double density);
torch::Tensor merge_linear(const std::vector<torch::Tensor>& tasks, const std::vector<double>& weights);
torch::Tensor merge_ties(const std::vector<torch::Tensor>& tasks, const std::vector<double>& weights, double density);

// One LoRA module of several adapters (A_j [r, in], B_j [out, r], scaling s_j, weight w_j)
// merged into one adapter of rank r at scaling 1: {A, B}.
std::pair<torch::Tensor, torch::Tensor> merge_lora(MergeMethod method, const std::vector<torch::Tensor>& A,
                                                   const std::vector<torch::Tensor>& B,
                                                   const std::vector<double>& scaling,
                                                   const std::vector<double>& weights, double density);

// The weight handed to the merge for each silo that takes part, from its kept sample count:
// equal or proportional to the count, normalised to sum 1 for linear and task_arithmetic
// (a weighted average) and to mean 1 for ties (whose disjoint mean already averages),
// times merge.scale. Silos with no samples get 0 and are left out by the caller.
std::vector<double> merge_weights(const MergeConfig& mc, const std::vector<double>& counts);

// Merges the flat trainable weights of several fine-tunings of one model (named: the
// trainable tensors by name, for their shapes; lora_A/lora_B pairs as "<module>.lora_A")
// that all started from theta0. LoRA models come back at the model's own scaling
// (`lora_scaling`, B divided by it), so the merged flat vector loads into the same model.
torch::Tensor merge_trained(const MergeConfig& mc, const std::vector<std::pair<std::string, torch::Tensor>>& named,
                            const std::vector<torch::Tensor>& thetas, const torch::Tensor& theta0,
                            const std::vector<double>& weights, double lora_scaling);

}  // namespace clues
