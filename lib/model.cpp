// LLaMA-style decoder with LoRA (lib/model.h).
#include "lib/model.h"

#include <cmath>

namespace clues {

namespace F = torch::nn::functional;

LinearImpl::LinearImpl(int64_t in, int64_t out, int64_t lora_rank, double lora_alpha, double init_scale) {
  weight = register_parameter("weight", torch::randn({out, in}) * (init_scale / std::sqrt(static_cast<double>(in))));
  if (lora_rank > 0) {
    lora_A = register_parameter("lora_A", torch::randn({lora_rank, in}) / std::sqrt(static_cast<double>(in)));
    lora_B = register_parameter("lora_B", torch::zeros({out, lora_rank}));
    scale = lora_alpha / static_cast<double>(lora_rank);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::matmul(x, weight.t());
  if (has_lora()) y = y + torch::matmul(torch::matmul(x, lora_A.t()), lora_B.t()) * scale;
  return y;
}

RMSNormImpl::RMSNormImpl(int64_t d, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({d}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

namespace {

int64_t lora_rank_for(const ModelConfig& c, const std::string& name) {
  if (c.finetune != "lora") return 0;
  for (const auto& t : c.lora_targets)
    if (t == name) return c.lora_rank;
  return 0;
}

// Rotary embedding on interleaved pairs: x [B,H,T,Dh], cos/sin [T,Dh/2].
torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  using torch::indexing::Slice;
  auto x1 = x.index({"...", Slice(0, torch::indexing::None, 2)});
  auto x2 = x.index({"...", Slice(1, torch::indexing::None, 2)});
  auto out = torch::stack({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, -1);
  return out.flatten(-2);
}

}  // namespace

BlockImpl::BlockImpl(const ModelConfig& c, int64_t layer) : heads(c.heads) {
  const double resid = 1.0 / std::sqrt(2.0 * static_cast<double>(c.layers));
  attn_norm = register_module("attn_norm", RMSNorm(c.d_model));
  auto lin = [&](const char* name, int64_t in, int64_t out, double s) {
    return register_module(name, Linear(in, out, lora_rank_for(c, name), c.lora_alpha, s));
  };
  q = lin("q", c.d_model, c.d_model, 1.0);
  k = lin("k", c.d_model, c.d_model, 1.0);
  v = lin("v", c.d_model, c.d_model, 1.0);
  o = lin("o", c.d_model, c.d_model, resid);
  mlp_norm = register_module("mlp_norm", RMSNorm(c.d_model));
  gate = lin("gate", c.d_model, c.hidden, 1.0);
  up = lin("up", c.d_model, c.hidden, 1.0);
  down = lin("down", c.hidden, c.d_model, resid);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), Dh = D / heads;
  auto h = attn_norm(x);
  auto qh = q(h).view({B, T, heads, Dh}).transpose(1, 2);
  auto kh = k(h).view({B, T, heads, Dh}).transpose(1, 2);
  auto vh = v(h).view({B, T, heads, Dh}).transpose(1, 2);
  qh = rope(qh, cos, sin);
  kh = rope(kh, cos, sin);
  auto att = torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(static_cast<double>(Dh));
  att = (att + mask).softmax(-1);
  auto y = torch::matmul(att, vh).transpose(1, 2).reshape({B, T, D});
  auto x1 = x + o(y);
  auto h2 = mlp_norm(x1);
  return x1 + down(F::silu(gate(h2)) * up(h2));
}

DecoderImpl::DecoderImpl(const ModelConfig& c) : cfg_(c) {
  embed = register_module("embed", torch::nn::Embedding(c.vocab, c.d_model));
  torch::NoGradGuard ng;
  embed->weight.normal_(0.0, 1.0);
  auto list = register_module("blocks", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.layers; ++l) {
    blocks.push_back(Block(c, l));
    list->push_back(blocks.back());
  }
  norm = register_module("norm", RMSNorm(c.d_model));
  head = register_module("head", Linear(c.d_model, c.vocab, 0, 0.0, 1.0));
  const int64_t dh = c.d_model / c.heads;
  inv_freq_ = torch::pow(c.rope_base, -torch::arange(0, dh, 2, torch::kFloat64) / static_cast<double>(dh)).to(torch::kFloat32);

  const bool full = c.finetune == "full";
  for (auto& p : named_parameters(true)) {
    const std::string& n = p.key();
    const bool is_lora = n.find("lora_") != std::string::npos;
    const bool train = full || is_lora;
    p.value().set_requires_grad(train);
    if (train) trainable_.emplace_back(n, p.value());
  }
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& ids) {
  const int64_t T = ids.size(1);
  auto pos = torch::arange(T, torch::kFloat32);
  auto ang = torch::outer(pos, inv_freq_);
  auto dtype = embed->weight.scalar_type();
  auto cos = ang.cos().to(dtype), sin = ang.sin().to(dtype);
  auto mask = torch::full({T, T}, -std::numeric_limits<float>::infinity(), torch::TensorOptions().dtype(dtype)).triu(1);
  auto x = embed(ids);
  for (auto& b : blocks) x = b(x, cos, sin, mask);
  return head(norm(x));
}

std::vector<torch::Tensor> DecoderImpl::trainable_tensors() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : trainable_) out.push_back(p.second);
  return out;
}

int64_t DecoderImpl::trainable_numel() const {
  int64_t n = 0;
  for (const auto& p : trainable_) n += p.second.numel();
  return n;
}

Decoder make_model(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  return Decoder(c);
}

Batch make_batch(const std::vector<const Encoded*>& samples) {
  int64_t T = 0;
  for (const auto* s : samples) T = std::max<int64_t>(T, static_cast<int64_t>(s->ids.size()));
  const int64_t B = static_cast<int64_t>(samples.size());
  auto ids = torch::full({B, T}, kPad, torch::kInt64);
  auto targets = torch::full({B, T}, -100, torch::kInt64);
  auto ia = ids.accessor<int64_t, 2>();
  auto ta = targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& e = *samples[static_cast<size_t>(b)];
    const int64_t n = static_cast<int64_t>(e.ids.size());
    for (int64_t t = 0; t < n; ++t) ia[b][t] = e.ids[static_cast<size_t>(t)];
    // position t predicts token t+1; only response tokens are targets
    for (int64_t t = std::max<int64_t>(e.response_start, 1) - 1; t + 1 < n; ++t) ta[b][t] = e.ids[static_cast<size_t>(t + 1)];
  }
  return {ids, targets};
}

torch::Tensor per_sample_loss(Decoder& model, const Batch& batch) {
  auto logits = model->forward(batch.ids);
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  // Low-precision logits are upcast; float64 (gradient checks) stays float64.
  auto flat = logits.reshape({B * T, V});
  if (flat.scalar_type() != torch::kFloat64) flat = flat.to(torch::kFloat32);
  auto tok = F::cross_entropy(flat, batch.targets.reshape({B * T}),
                              F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kNone))
                 .view({B, T});
  auto count = (batch.targets != -100).sum(1).clamp_min(1).to(tok.scalar_type());
  return tok.sum(1) / count;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : ts) parts.push_back(t.detach().reshape(-1).to(torch::kFloat32));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  torch::NoGradGuard ng;
  int64_t off = 0;
  for (const auto& t : ts) {
    const int64_t n = t.numel();
    t.copy_(flat.slice(0, off, off + n).view(t.sizes()));
    off += n;
  }
  TORCH_CHECK(off == flat.numel(), "unflatten_into: size mismatch");
}

torch::Tensor flatten_grads(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : ts)
    parts.push_back(t.grad().defined() ? t.grad().reshape(-1).to(torch::kFloat32) : torch::zeros({t.numel()}));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts);
}

}  // namespace clues
