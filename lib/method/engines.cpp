// Batched per-sample gradients and ghost inner products (lib/method/engines.h).
#include "lib/method/engines.h"

#include <map>

#include "lib/model/batches.h"

namespace clues {

namespace {

// Runs the forward and backward of a packed batch and returns, for each recorded layer,
// its token-level input x and output-gradient δ, flattened to [tokens, ·] in float32.
struct Recorded {
  CapturedLayer layer;
  torch::Tensor x, delta;  // [R*L, in], [R*L, out] (embedding: x = ids [R*L])
};

std::vector<Recorded> record(Decoder& model, const Batch& batch) {
  TORCH_CHECK(!model->is_training(), "per-sample gradients are taken in eval mode (no LoRA dropout)");
  Capture cap;
  model->set_capture(&cap);
  torch::Tensor losses;
  try {
    losses = per_sample_loss(model, batch);
  } catch (...) {
    model->set_capture(nullptr);
    throw;
  }
  model->set_capture(nullptr);
  std::vector<torch::Tensor> ys;
  for (const auto& l : cap.layers) ys.push_back(l.y);
  auto deltas = torch::autograd::grad({losses.sum()}, ys, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                      /*allow_unused=*/true);
  std::vector<Recorded> out;
  for (size_t i = 0; i < cap.layers.size(); ++i) {
    const auto& l = cap.layers[i];
    const int64_t d_out = l.y.size(-1);
    auto delta = deltas[i].defined() ? deltas[i].reshape({-1, d_out}).to(torch::kFloat32)
                                     : torch::zeros({l.y.numel() / d_out, d_out}, l.y.options().dtype(torch::kFloat32));
    auto x = l.kind == CapturedLayer::Kind::kEmbedding ? l.x.reshape({-1}) : l.x.reshape({-1, l.x.size(-1)}).to(torch::kFloat32);
    out.push_back({l, x, delta});
  }
  return out;
}

// Token rows of each sample, zero-padded: [n, Tmax, d] from [tokens, d].
torch::Tensor per_sample_rows(const torch::Tensor& flat, const Batch& b) {
  auto padded = torch::cat({flat, torch::zeros({1, flat.size(1)}, flat.options())});
  return padded.index_select(0, b.token_index.reshape({-1})).view({b.samples, b.token_index.size(1), flat.size(1)});
}

torch::Tensor f32(const torch::Tensor& t) { return t.detach().to(torch::kFloat32); }

// Per-parameter results keyed by the parameter's storage, to be put in trainable() order.
using ByParam = std::map<const void*, torch::Tensor>;
const void* key(const torch::Tensor& p) { return p.unsafeGetTensorImpl(); }

// Puts per-parameter columns ([n, numel] or [n]) into trainable() order; a trainable
// parameter no recorded layer covers is an error, never silently dropped.
std::vector<torch::Tensor> in_trainable_order(Decoder& model, const ByParam& got) {
  std::vector<torch::Tensor> out;
  for (const auto& [name, p] : model->trainable()) {
    auto it = got.find(key(p));
    TORCH_CHECK(it != got.end(), "the batched/ghost engines do not cover trainable parameter ", name,
                "; use score.engine=loop");
    out.push_back(it->second);
  }
  return out;
}

}  // namespace

torch::Tensor batched_grads(Decoder& model, const std::vector<const Encoded*>& samples, int64_t row_len) {
  const Batch b = to_device(pack_batch(samples, row_len), device_of(model));
  const auto rec = record(model, b);
  const int64_t n = b.samples;
  torch::NoGradGuard ng;
  ByParam got;
  auto add = [&](const torch::Tensor& p, const torch::Tensor& g) {
    auto flat = g.reshape({n, -1});
    auto it = got.find(key(p));
    if (it == got.end()) got[key(p)] = flat;
    else it->second = it->second + flat;  // a parameter used twice (a head tied to the embedding)
  };
  for (const auto& r : rec) {
    switch (r.layer.kind) {
      case CapturedLayer::Kind::kLinear: {
        auto* lin = dynamic_cast<LinearImpl*>(r.layer.module);
        auto xs = per_sample_rows(r.x, b), ds = per_sample_rows(r.delta, b);  // [n,T,in], [n,T,out]
        if (lin->weight.requires_grad()) add(lin->weight, torch::bmm(ds.transpose(1, 2), xs));
        if (lin->bias.defined() && lin->bias.requires_grad()) add(lin->bias, ds.sum(1));
        if (lin->has_lora()) {
          auto A = f32(lin->lora_A), B = f32(lin->lora_B);
          auto u = torch::matmul(xs, A.t());                                              // [n,T,r]
          add(lin->lora_B, torch::bmm(ds.transpose(1, 2), u) * lin->scale);                // [n,out,r]
          add(lin->lora_A, torch::bmm(torch::matmul(ds, B).transpose(1, 2), xs) * lin->scale);  // [n,r,in]
        }
        break;
      }
      case CapturedLayer::Kind::kNorm: {
        auto* norm = dynamic_cast<RMSNormImpl*>(r.layer.module);
        add(norm->weight, (per_sample_rows(r.delta, b) * per_sample_rows(r.x, b)).sum(1));
        break;
      }
      case CapturedLayer::Kind::kEmbedding: {
        auto* emb = dynamic_cast<torch::nn::EmbeddingImpl*>(r.layer.module);
        const int64_t V = emb->weight.size(0), D = emb->weight.size(1);
        auto g = torch::zeros({n * V, D}, r.delta.options());
        auto seg = b.seg.reshape({-1});
        auto valid = seg >= 0;
        auto rows = (seg.masked_select(valid) * V + r.x.masked_select(valid));
        g.index_add_(0, rows, r.delta.index({valid}));
        add(emb->weight, g.view({n, V, D}));
        break;
      }
    }
  }
  return torch::cat(in_trainable_order(model, got), 1);
}

torch::Tensor ghost_dots(Decoder& model, const std::vector<const Encoded*>& samples, const torch::Tensor& target,
                         int64_t row_len) {
  const Batch b = to_device(pack_batch(samples, row_len), device_of(model));
  const auto rec = record(model, b);
  torch::NoGradGuard ng;
  // Slices of the target per trainable parameter.
  std::map<const void*, torch::Tensor> target_of;
  const auto params = model->trainable_tensors();
  const auto pieces = split_like(target, params);
  for (size_t i = 0; i < params.size(); ++i) target_of[key(params[i])] = pieces[i].to(params[i].device(), torch::kFloat32);
  // Per-token contributions, summed per sample at the end.
  const auto seg = b.seg.reshape({-1});
  const auto valid = seg >= 0;
  ByParam covered;
  auto token_sum = torch::zeros({seg.size(0)}, seg.options().dtype(torch::kFloat64));
  auto add = [&](const torch::Tensor& p, const torch::Tensor& per_token) {
    covered[key(p)] = torch::Tensor();
    token_sum += per_token.to(torch::kFloat64);
  };
  for (const auto& r : rec) {
    switch (r.layer.kind) {
      case CapturedLayer::Kind::kLinear: {
        auto* lin = dynamic_cast<LinearImpl*>(r.layer.module);
        if (lin->weight.requires_grad())
          add(lin->weight, (torch::matmul(r.x, target_of.at(key(lin->weight)).t()) * r.delta).sum(-1));
        if (lin->bias.defined() && lin->bias.requires_grad())
          add(lin->bias, (r.delta * target_of.at(key(lin->bias))).sum(-1));
        if (lin->has_lora()) {
          auto A = f32(lin->lora_A), B = f32(lin->lora_B);
          auto u = torch::matmul(r.x, A.t());  // [tok, r]
          add(lin->lora_B, (torch::matmul(u, target_of.at(key(lin->lora_B)).t()) * r.delta).sum(-1) * lin->scale);
          add(lin->lora_A,
              (torch::matmul(r.delta, B) * torch::matmul(r.x, target_of.at(key(lin->lora_A)).t())).sum(-1) * lin->scale);
        }
        break;
      }
      case CapturedLayer::Kind::kNorm: {
        auto* norm = dynamic_cast<RMSNormImpl*>(r.layer.module);
        add(norm->weight, (r.delta * r.x * target_of.at(key(norm->weight))).sum(-1));
        break;
      }
      case CapturedLayer::Kind::kEmbedding: {
        auto* emb = dynamic_cast<torch::nn::EmbeddingImpl*>(r.layer.module);
        add(emb->weight, (r.delta * target_of.at(key(emb->weight)).index_select(0, r.x)).sum(-1));
        break;
      }
    }
  }
  in_trainable_order(model, covered);  // checks coverage
  return torch::zeros({b.samples}, token_sum.options())
      .index_add_(0, seg.masked_select(valid), token_sum.masked_select(valid))
      .cpu();
}

std::vector<double> score_samples(const ScoreConfig& sc, Decoder& model, const std::vector<Encoded>& samples,
                                  const torch::Tensor& target, const Preconditioner& pre, int64_t row_len,
                                  const ProgressFn& progress, torch::Tensor* features) {
  TORCH_CHECK(!features || (sc.engine == Engine::kBatched && sc.project_dim > 0),
              "projected features need score.engine=batched and score.project_dim > 0");
  if (sc.engine == Engine::kLoop) return score_loop(model, samples, target, pre, progress);
  std::vector<torch::Tensor> feats;
  TORCH_CHECK(sc.engine != Engine::kGhost || (!pre.adam() && !pre.unit), "the ghost engine computes plain SGD scores "
              "only; use score.engine=batched for Adam/rms preconditioning or unit normalisation");
  std::vector<double> out;
  out.reserve(samples.size());
  const auto dev = device_of(model);
  const auto t32 = target.to(dev, torch::kFloat32);
  const auto t64 = target.to(dev, torch::kFloat64);
  for_each_batch(static_cast<int64_t>(samples.size()), sc.batch_size, [&](int64_t begin, int64_t end) {
    const auto chunk = batch_of(samples, begin, end);
    torch::Tensor dots;
    if (sc.engine == Engine::kGhost) {
      dots = ghost_dots(model, chunk, t32, row_len);
    } else {
      const auto gamma = pre.apply(batched_grads(model, chunk, row_len));
      dots = torch::mv(gamma.to(torch::kFloat64), t64);
      if (features) feats.push_back(project(gamma, sc.project_dim, sc.project_seed).cpu());
    }
    auto acc = dots.cpu().contiguous();
    out.insert(out.end(), acc.data_ptr<double>(), acc.data_ptr<double>() + acc.numel());
    if (progress) progress(static_cast<int64_t>(out.size()), static_cast<int64_t>(samples.size()));
  });
  if (features) *features = feats.empty() ? torch::zeros({0, sc.project_dim}) : torch::cat(feats, 0);
  return out;
}

torch::Tensor project(const torch::Tensor& grads, int64_t k, uint64_t seed, int64_t block_rows) {
  const int64_t P = grads.size(1);
  // Signs come from a seeded CPU generator on every device; the products run where grads are.
  auto g = grads.to(torch::kFloat32);
  auto out = torch::zeros({grads.size(0), k}, g.options());
  for (int64_t r0 = 0, blk = 0; r0 < P; r0 += block_rows, ++blk) {
    const int64_t rows = std::min(block_rows, P - r0);
    auto gen = at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<uint64_t>(blk));
    auto signs = (torch::randint(0, 2, {rows, k}, gen, torch::kFloat32) * 2 - 1).to(g.device());
    out.addmm_(g.slice(1, r0, r0 + rows), signs);
  }
  return out / std::sqrt(static_cast<double>(k));
}

}  // namespace clues
