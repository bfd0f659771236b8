// Model merging by PEFT's definitions (lib/model/merge.h).
#include "lib/model/merge.h"

#include <cmath>
#include <map>

#include "io/error.h"
#include "lib/model/model.h"

namespace clues {

namespace {

torch::Tensor stacked_weights(const std::vector<double>& w, const torch::Tensor& like) {
  auto t = torch::tensor(std::vector<double>(w.begin(), w.end()), torch::kFloat64).to(like.dtype()).to(like.device());
  std::vector<int64_t> shape{static_cast<int64_t>(w.size())};
  for (int64_t d = 1; d < like.dim(); ++d) shape.push_back(1);
  return t.view(shape);
}

void check_tasks(const std::vector<torch::Tensor>& tasks, const std::vector<double>& weights) {
  if (tasks.empty() || tasks.size() != weights.size())
    throw Error("merge: " + std::to_string(tasks.size()) + " task tensors with " + std::to_string(weights.size()) + " weights");
}

}  // namespace

// merge_utils.magnitude_based_pruning: keep the int(density·n) largest magnitudes.
torch::Tensor magnitude_prune(const torch::Tensor& t, double density) {
  if (density >= 1) return t;
  const auto flat = t.reshape(-1);
  const auto k = static_cast<int64_t>(density * static_cast<double>(flat.numel()));
  auto mask = torch::zeros_like(flat);
  if (k > 0) mask.index_fill_(0, std::get<1>(flat.abs().topk(k, 0, true)), 1);
  return t * mask.view(t.sizes());
}

// merge_utils.task_arithmetic.
torch::Tensor merge_linear(const std::vector<torch::Tensor>& tasks, const std::vector<double>& weights) {
  check_tasks(tasks, weights);
  const auto stack = torch::stack(tasks, 0);
  return (stack * stacked_weights(weights, stack)).sum(0);
}

// merge_utils.ties with majority_sign_method "total".
torch::Tensor merge_ties(const std::vector<torch::Tensor>& tasks, const std::vector<double>& weights, double density) {
  check_tasks(tasks, weights);
  std::vector<torch::Tensor> pruned;
  for (const auto& t : tasks) pruned.push_back(magnitude_prune(t, density));
  const auto stack = torch::stack(pruned, 0);
  const auto sign = stack.sign();
  const auto majority = torch::where(stack.sum(0) >= 0, 1, -1).to(sign.dtype());
  const auto agree = (sign == majority).to(stack.dtype());
  const auto mixed = (stack * stacked_weights(weights, stack) * agree).sum(0);
  return mixed / torch::clamp(agree.sum(0), 1.0);
}

std::pair<torch::Tensor, torch::Tensor> merge_lora(MergeMethod method, const std::vector<torch::Tensor>& A,
                                                   const std::vector<torch::Tensor>& B,
                                                   const std::vector<double>& scaling,
                                                   const std::vector<double>& weights, double density) {
  check_tasks(A, weights);
  if (B.size() != A.size() || scaling.size() != A.size()) throw Error("merge_lora: A, B and scalings differ in count");
  if (method == MergeMethod::kTaskArithmetic) {
    // PEFT's "svd": Σ w_j·ΔW_j (ΔW_j = s_j·B_j·A_j), then its best approximation of rank r.
    std::vector<torch::Tensor> deltas;
    for (size_t j = 0; j < A.size(); ++j) deltas.push_back(torch::matmul(B[j], A[j]) * scaling[j]);
    const auto delta = merge_linear(deltas, weights);
    const int64_t r = A[0].size(0);
    auto [U, S, Vh] = torch::linalg_svd(delta, true);
    return {Vh.narrow(0, 0, r).contiguous(), torch::matmul(U.narrow(1, 0, r), torch::diag(S.narrow(0, 0, r)))};
  }
  std::vector<double> wa, wb;  // sqrt(|w·s|), with w·s's sign on A's
  for (size_t j = 0; j < A.size(); ++j) {
    const double ws = weights[j] * scaling[j];
    wa.push_back(std::sqrt(std::abs(ws)) * (ws >= 0 ? 1.0 : -1.0));
    wb.push_back(std::sqrt(std::abs(ws)));
  }
  if (method == MergeMethod::kLinear) return {merge_linear(A, wa), merge_linear(B, wb)};
  return {merge_ties(A, wa, density), merge_ties(B, wb, density)};
}

std::vector<double> merge_weights(const MergeConfig& mc, const std::vector<double>& counts) {
  double total = 0, taking = 0;
  for (double n : counts)
    if (n > 0) {
      total += n;
      taking += 1;
    }
  std::vector<double> w(counts.size(), 0.0);
  if (taking == 0) return w;
  for (size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] <= 0) continue;
    const double share = mc.weights == MergeWeights::kEqual ? 1.0 / taking : counts[j] / total;  // sums to 1
    w[j] = mc.scale * (mc.method == MergeMethod::kTies ? share * taking : share);
  }
  return w;
}

torch::Tensor merge_trained(const MergeConfig& mc, const std::vector<std::pair<std::string, torch::Tensor>>& named,
                            const std::vector<torch::Tensor>& thetas, const torch::Tensor& theta0,
                            const std::vector<double>& weights, double lora_scaling) {
  if (thetas.empty()) return theta0.clone();
  std::vector<torch::Tensor> like;  // the trainable tensors, for split_like's pieces
  std::map<std::string, size_t> index;
  for (const auto& [n, t] : named) {
    index[n] = like.size();
    like.push_back(t);
  }
  auto out = theta0.to(torch::kFloat32).clone();
  const auto out_parts = split_like(out, like), base = split_like(theta0.to(torch::kFloat32), like);
  std::vector<std::vector<torch::Tensor>> parts;  // [fine-tuning][tensor]
  for (const auto& th : thetas) parts.push_back(split_like(th.to(torch::kFloat32), like));
  auto across = [&](size_t i) {  // tensor i of every fine-tuning
    std::vector<torch::Tensor> v;
    for (const auto& p : parts) v.push_back(p[i]);
    return v;
  };
  const std::vector<double> scalings(thetas.size(), lora_scaling);
  for (size_t i = 0; i < like.size(); ++i) {
    const std::string& n = named[i].first;
    const auto pos = n.rfind(".lora_");
    if (pos != std::string::npos) {
      if (n.compare(pos, 7, ".lora_B") == 0) continue;  // merged with its A
      const size_t b = index.at(n.substr(0, pos) + ".lora_B");
      auto [A, B] = merge_lora(mc.method, across(i), across(b), scalings, weights, mc.density);
      out_parts[i].copy_(A);
      out_parts[b].copy_(B / lora_scaling);  // the model multiplies by its scaling again
      continue;
    }
    // A fully trained tensor: merge the updates θ_j − θ_0 and add them to θ_0.
    std::vector<torch::Tensor> tasks;
    for (const auto& t : across(i)) tasks.push_back(t - base[i]);
    const auto merged = mc.method == MergeMethod::kTies ? merge_ties(tasks, weights, mc.density) : merge_linear(tasks, weights);
    out_parts[i].copy_(base[i] + merged);
  }
  return out;
}

}  // namespace clues
