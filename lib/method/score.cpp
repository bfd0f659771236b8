// Reference (loop) scoring engine and the preconditioner (lib/method/score.h).
#include "lib/method/score.h"

#include <algorithm>
#include <string>

#include "io/error.h"
#include "lib/model/batches.h"

namespace clues {

torch::Tensor Preconditioner::apply(const torch::Tensor& g) const {
  torch::Tensor out = g;
  if (adam()) {
    const auto vd = v.to(g.device()), md = m.defined() ? m.to(g.device()) : m;  // no-ops on one device
    auto v2 = vd * beta2 + g * g * (1.0 - beta2);
    out = (momentum ? md * beta1 + g * (1.0 - beta1) : g) / torch::sqrt(v2 + eps);
  }
  if (unit) out = out / out.norm(2, {-1}, true).clamp_min(1e-30);
  return out;
}

torch::Tensor grad_sum(Decoder& model, const std::vector<const Encoded*>& samples) {
  const auto params = model->trainable_tensors();
  for (const auto& p : params) p.mutable_grad() = torch::Tensor();
  per_sample_loss(model, make_batch(samples)).sum().backward();
  return flatten_grads(params);
}

torch::Tensor sample_grad(Decoder& model, const Encoded& sample) { return grad_sum(model, {&sample}); }

torch::Tensor mean_grad(Decoder& model, const std::vector<Encoded>& samples, int64_t batch) {
  torch::Tensor sum;
  for_each_batch(static_cast<int64_t>(samples.size()), batch, [&](int64_t begin, int64_t end) {
    const auto g = grad_sum(model, batch_of(samples, begin, end));
    sum = sum.defined() ? sum + g : g;
  });
  return sum / static_cast<double>(samples.size());
}

std::vector<double> score_loop(Decoder& model, const std::vector<Encoded>& samples, const torch::Tensor& target,
                               const Preconditioner& pre, const ProgressFn& progress) {
  std::vector<double> out;
  out.reserve(samples.size());
  const auto t64 = target.to(device_of(model), torch::kFloat64);
  for (size_t i = 0; i < samples.size(); ++i) {
    auto g = sample_grad(model, samples[i]);
    out.push_back(torch::dot(pre.apply(g).to(torch::kFloat64), t64).item<double>());
    if (progress) progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(samples.size()));
  }
  return out;
}

void accumulate_scores(std::vector<double>& acc, const std::vector<double>& dots, double lr, int64_t checkpoints) {
  TORCH_CHECK(acc.size() == dots.size(), "accumulate_scores: sizes differ");
  for (size_t i = 0; i < dots.size(); ++i) acc[i] += lr * dots[i] / static_cast<double>(checkpoints);
}

namespace {
std::vector<std::string> dot_parts(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '.')
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}
bool matches(const std::vector<std::string>& name, const std::vector<std::string>& entry) {
  for (size_t i = 0; i + entry.size() <= name.size(); ++i)
    if (std::equal(entry.begin(), entry.end(), name.begin() + static_cast<std::ptrdiff_t>(i))) return true;
  return false;
}
}  // namespace

torch::Tensor module_mask(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                          const std::vector<std::string>& modules) {
  if (modules.empty()) return {};
  std::vector<torch::Tensor> parts;
  std::vector<bool> used(modules.size(), false);
  for (const auto& [name, t] : named) {
    bool in = false;
    for (size_t e = 0; e < modules.size(); ++e)
      if (matches(dot_parts(name), dot_parts(modules[e]))) in = used[e] = true;
    parts.push_back(torch::full({t.numel()}, in ? 1.0f : 0.0f, torch::TensorOptions().dtype(torch::kFloat32)));
  }
  for (size_t e = 0; e < modules.size(); ++e)
    if (!used[e]) {
      std::string names;
      for (size_t i = 0; i < named.size() && i < 6; ++i) names += (i ? ", " : "") + named[i].first;
      throw InputError("score.modules: \"" + modules[e] + "\" matches no trainable tensor (they are named like " + names +
                       (named.size() > 6 ? ", ..." : "") + ")");
    }
  return torch::cat(parts);
}

torch::Tensor domain_target(const std::vector<std::string>& domains, const std::vector<torch::Tensor>& gbars,
                            const std::string& silo, double other_domains) {
  if (gbars.size() == 1 && domains[0].empty()) return gbars[0];
  torch::Tensor t = torch::zeros_like(gbars[0]);
  for (size_t d = 0; d < gbars.size(); ++d) t += gbars[d] * (domains[d] == silo ? 1.0 : other_domains);
  return t;
}

}  // namespace clues
