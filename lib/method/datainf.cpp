// DataInf influence (lib/method/datainf.h): three streamed passes of per-sample gradients.
#include "lib/method/datainf.h"

#include "lib/model/batches.h"
#include "lib/method/engines.h"

namespace clues {

std::vector<double> datainf_influence(Decoder& model, const std::vector<Encoded>& train, const torch::Tensor& val_grad,
                                      int64_t batch, int64_t row_len, double lambda_const) {
  const auto n = static_cast<int64_t>(train.size());
  if (n == 0) return {};
  // Where each trainable tensor sits in the flat vector: DataInf works tensor by tensor.
  std::vector<int64_t> offset, size;
  int64_t P = 0;
  for (const auto& [name, t] : model->trainable()) {
    offset.push_back(P);
    size.push_back(t.numel());
    P += t.numel();
  }
  const auto L = static_cast<int64_t>(offset.size());
  const auto v = val_grad.to(torch::kCPU, torch::kFloat64);
  // g [b, P] -> per tensor: the columns of tensor l, [b, size_l].
  auto block = [&](const torch::Tensor& g, int64_t l) { return g.narrow(1, offset[static_cast<size_t>(l)], size[static_cast<size_t>(l)]); };
  auto grads = [&](int64_t begin, int64_t end) {
    return batched_grads(model, batch_of(train, begin, end), row_len).to(torch::kCPU, torch::kFloat64);
  };
  // Pass 1: ‖g_il‖² and ⟨v_l, g_il⟩ per sample and tensor, and λ_l.
  auto sq = torch::zeros({n, L}, torch::kFloat64), dot = torch::zeros({n, L}, torch::kFloat64);
  for_each_batch(n, batch, [&](int64_t begin, int64_t end) {
    const auto g = grads(begin, end);
    for (int64_t l = 0; l < L; ++l) {
      const auto gl = block(g, l);
      sq.narrow(0, begin, end - begin).select(1, l).copy_((gl * gl).sum(1));
      dot.narrow(0, begin, end - begin).select(1, l).copy_(torch::matmul(gl, block(v.unsqueeze(0), l).squeeze(0)));
    }
  });
  auto sizes = torch::tensor(std::vector<double>(size.begin(), size.end()), torch::kFloat64);
  const auto lambda = (sq / sizes).mean(0) / lambda_const;  // [L]: mean over samples of mean(g²)
  const auto c = dot / (lambda + sq);                        // [n, L]
  // Pass 2: Σ_i c_il·g_il, then h_l = (v_l − Σ_i c_il·g_il / n) / λ_l.
  auto sum_cg = torch::zeros({P}, torch::kFloat64);
  for_each_batch(n, batch, [&](int64_t begin, int64_t end) {
    const auto g = grads(begin, end);
    const auto cb = c.narrow(0, begin, end - begin);
    for (int64_t l = 0; l < L; ++l)
      sum_cg.narrow(0, offset[static_cast<size_t>(l)], size[static_cast<size_t>(l)]) +=
          torch::matmul(cb.select(1, l), block(g, l));
  });
  auto h = torch::empty({P}, torch::kFloat64);
  for (int64_t l = 0; l < L; ++l) {
    const auto o = offset[static_cast<size_t>(l)], k = size[static_cast<size_t>(l)];
    h.narrow(0, o, k).copy_((v.narrow(0, o, k) - sum_cg.narrow(0, o, k) / static_cast<double>(n)) / lambda[l]);
  }
  // Pass 3: influence_k = −⟨h, g_k⟩ over all tensors.
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n));
  for_each_batch(n, batch, [&](int64_t begin, int64_t end) {
    const auto inf = -torch::matmul(grads(begin, end), h).contiguous();
    out.insert(out.end(), inf.data_ptr<double>(), inf.data_ptr<double>() + inf.numel());
  });
  return out;
}

}  // namespace clues
