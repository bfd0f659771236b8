// LLaMA-style decoder with LoRA (lib/model/model.h).
#include "lib/model/model.h"

#include <cmath>
#include <numeric>

namespace clues {

namespace F = torch::nn::functional;

LinearImpl::LinearImpl(int64_t in, int64_t out, int64_t lora_rank, double lora_alpha, double init_scale)
    : LinearImpl(LinearSpec{in, out, lora_rank, lora_alpha, 0.0, init_scale}) {}

LinearImpl::LinearImpl(const LinearSpec& s) {
  const auto opts = torch::TensorOptions().dtype(s.dtype);
  weight = register_parameter("weight", s.random ? (torch::randn({s.out, s.in}) * (s.init_scale / std::sqrt(static_cast<double>(s.in)))).to(s.dtype)
                                                 : torch::empty({s.out, s.in}, opts));
  if (s.bias) bias = register_parameter("bias", torch::zeros({s.out}, opts));
  if (s.lora_rank > 0) {
    lora_A = register_parameter("lora_A", torch::randn({s.lora_rank, s.in}) / std::sqrt(static_cast<double>(s.in)));
    lora_B = register_parameter("lora_B", torch::zeros({s.out, s.lora_rank}));
    scale = s.lora_alpha / static_cast<double>(s.lora_rank);
    dropout = s.lora_dropout;
  }
}

LinearImpl::LinearImpl(torch::Tensor shared) : weight(std::move(shared)) {}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::matmul(x, weight.t());
  if (bias.defined()) y = y + bias;
  if (has_lora()) {
    auto xl = x.scalar_type() == lora_A.scalar_type() ? x : x.to(lora_A.scalar_type());
    if (dropout > 0 && is_training()) xl = F::dropout(xl, F::DropoutFuncOptions().p(dropout).training(true));
    y = (y + torch::matmul(torch::matmul(xl, lora_A.t()), lora_B.t()) * scale).to(x.scalar_type());
  }
  if (capture && (has_lora() || weight.requires_grad() || (bias.defined() && bias.requires_grad())))
    capture->layers.push_back({CapturedLayer::Kind::kLinear, this, x.detach(), y});
  return y;
}

RMSNormImpl::RMSNormImpl(int64_t d, double eps_, torch::ScalarType dtype) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({d}, torch::TensorOptions().dtype(dtype)));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor n;
  if (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64) {
    n = x * torch::rsqrt(x.pow(2).mean(-1, true) + eps);
  } else {
    const auto xf = x.to(torch::kFloat32);
    n = (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
  }
  auto y = n * weight;
  if (capture && weight.requires_grad()) capture->layers.push_back({CapturedLayer::Kind::kNorm, this, n.detach(), y});
  return y;
}

namespace {

int64_t lora_rank_for(const ModelConfig& c, const std::string& name) {
  if (c.finetune != Finetune::kLora) return 0;
  for (const auto& t : c.lora_targets)
    if (t == name) return c.lora_rank;
  return 0;
}

// Rotary embedding on interleaved pairs (x0,x1), (x2,x3), ...: x [B,H,T,Dh], cos/sin [..,T,Dh/2].
torch::Tensor rope_interleaved(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  using torch::indexing::Slice;
  auto x1 = x.index({"...", Slice(0, torch::indexing::None, 2)});
  auto x2 = x.index({"...", Slice(1, torch::indexing::None, 2)});
  auto out = torch::stack({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, -1);
  return out.flatten(-2);
}

// Hugging Face's rotary embedding: pairs (x_i, x_{i+Dh/2}), x·cos + rotate_half(x)·sin.
torch::Tensor rope_half(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t h = x.size(-1) / 2;
  auto c = torch::cat({cos, cos}, -1), s = torch::cat({sin, sin}, -1);
  auto rot = torch::cat({-x.slice(-1, h), x.slice(-1, 0, h)}, -1);
  return x * c + rot * s;
}

torch::ScalarType base_dtype(const ModelConfig& c) {
  switch (c.dtype) {
    case DType::kBFloat16: return torch::kBFloat16;
    case DType::kFloat16: return torch::kFloat16;
    default: return torch::kFloat32;
  }
}

}  // namespace

torch::Tensor rope_inv_freq(const ModelConfig& c) {
  const int64_t dh = c.n_head_dim();
  if (c.rope_style == RopeStyle::kInterleaved)
    return torch::pow(c.rope_base, -torch::arange(0, dh, 2, torch::kFloat64) / static_cast<double>(dh)).to(torch::kFloat32);
  // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32
  auto inv = 1.0 / torch::pow(torch::tensor(c.rope_base, torch::kFloat32),
                              torch::arange(0, dh, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dh));
  if (c.rope_type == "linear") return inv / c.rope_factor;
  if (c.rope_type == "llama3") {
    const double old_len = static_cast<double>(c.rope_original_max);
    const double low_wavelen = old_len / c.rope_low_freq_factor, high_wavelen = old_len / c.rope_high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / c.rope_factor, inv);
    auto smooth = (old_len / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, smoothed, scaled);
  }
  return inv;
}

namespace {

LinearSpec spec_for(const ModelConfig& c, const std::string& name, int64_t in, int64_t out, double init_scale, bool bias) {
  LinearSpec s;
  s.in = in;
  s.out = out;
  s.lora_rank = lora_rank_for(c, name);
  s.lora_alpha = c.lora_alpha;
  s.lora_dropout = c.lora_dropout;
  s.init_scale = init_scale;
  s.bias = bias;
  s.random = c.dir.empty();
  s.dtype = base_dtype(c);
  return s;
}

}  // namespace

BlockImpl::BlockImpl(const ModelConfig& c, int64_t /*layer*/)
    : heads(c.heads), kv_heads(c.n_kv_heads()), head_dim(c.n_head_dim()), rope_style(c.rope_style),
      sdpa(c.attention == Attention::kSdpa) {
  const double resid = 1.0 / std::sqrt(2.0 * static_cast<double>(c.layers));
  const auto dt = base_dtype(c);
  attn_norm = register_module("attn_norm", RMSNorm(c.d_model, c.norm_eps, dt));
  auto lin = [&](const char* name, int64_t in, int64_t out, double s, bool bias) {
    return register_module(name, Linear(spec_for(c, name, in, out, s, bias)));
  };
  q = lin("q", c.d_model, heads * head_dim, 1.0, c.qkv_bias);
  k = lin("k", c.d_model, kv_heads * head_dim, 1.0, c.qkv_bias);
  v = lin("v", c.d_model, kv_heads * head_dim, 1.0, c.qkv_bias);
  o = lin("o", heads * head_dim, c.d_model, resid, c.o_bias);
  mlp_norm = register_module("mlp_norm", RMSNorm(c.d_model, c.norm_eps, dt));
  gate = lin("gate", c.d_model, c.hidden, 1.0, false);
  up = lin("up", c.d_model, c.hidden, 1.0, false);
  down = lin("down", c.hidden, c.d_model, resid, false);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask) {
  const int64_t B = x.size(0), T = x.size(1), Dh = head_dim;
  auto h = attn_norm(x);
  auto qh = q(h).view({B, T, heads, Dh}).transpose(1, 2);
  auto kh = k(h).view({B, T, kv_heads, Dh}).transpose(1, 2);
  auto vh = v(h).view({B, T, kv_heads, Dh}).transpose(1, 2);
  if (rope_style == RopeStyle::kHalf) {
    qh = rope_half(qh, cos, sin);
    kh = rope_half(kh, cos, sin);
  } else {
    qh = rope_interleaved(qh, cos, sin);
    kh = rope_interleaved(kh, cos, sin);
  }
  if (kv_heads != heads) {  // grouped-query attention: each key/value head serves heads/kv_heads query heads
    kh = kh.repeat_interleave(heads / kv_heads, 1);
    vh = vh.repeat_interleave(heads / kv_heads, 1);
  }
  torch::Tensor y;
  if (sdpa) {  // one fused kernel; the mask (causal, or block-diagonal causal for packed rows) as is
    y = at::scaled_dot_product_attention(qh, kh, vh, mask);
  } else {     // the reference
    auto att = torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(static_cast<double>(Dh));
    att = (att + mask).softmax(-1);
    y = torch::matmul(att, vh);
  }
  y = y.transpose(1, 2).reshape({B, T, heads * Dh});
  auto x1 = x + o(y);
  auto h2 = mlp_norm(x1);
  return x1 + down(F::silu(gate(h2)) * up(h2));
}

DecoderImpl::DecoderImpl(const ModelConfig& c) : cfg_(c) {
  const auto dt = base_dtype(c);
  if (c.dir.empty()) {  // the built-in model: drawn from the seed (this order of draws is part of its results)
    embed = register_module("embed", torch::nn::Embedding(c.vocab, c.d_model));
    torch::NoGradGuard ng;
    embed->weight.normal_(0.0, 1.0);
    if (dt != torch::kFloat32) embed->weight.set_data(embed->weight.to(dt));
  } else {              // a folder's model: its weights are loaded after construction
    embed = register_module("embed", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab, c.d_model)._weight(
                                                             torch::empty({c.vocab, c.d_model}, torch::TensorOptions().dtype(dt)))));
  }
  auto list = register_module("blocks", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.layers; ++l) {
    blocks.push_back(Block(c, l));
    list->push_back(blocks.back());
  }
  norm = register_module("norm", RMSNorm(c.d_model, c.norm_eps, dt));
  head = c.tied ? register_module("head", Linear(embed->weight))
                : register_module("head", Linear(spec_for(c, "head", c.d_model, c.vocab, 1.0, false)));
  inv_freq_ = register_buffer("inv_freq", rope_inv_freq(c));

  const bool full = c.finetune == Finetune::kFull;
  for (auto& p : named_parameters(true)) {
    const std::string& n = p.key();
    const bool is_lora = n.find("lora_") != std::string::npos;
    const bool train = full || is_lora;
    p.value().set_requires_grad(train);
    if (train) trainable_.emplace_back(n, p.value());
  }
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& mask) {
  auto dtype = embed->weight.scalar_type();
  auto ang = (positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq_).unsqueeze(1);  // [B,1,T,Dh/2]
  auto cos = ang.cos().to(dtype), sin = ang.sin().to(dtype);
  auto m = mask.to(dtype);
  auto x = embed(ids);
  if (capture_ && embed->weight.requires_grad())
    capture_->layers.push_back({CapturedLayer::Kind::kEmbedding, embed.get(), ids, x});
  for (auto& b : blocks) x = b(x, cos, sin, m);
  return head(norm(x));
}

void DecoderImpl::set_capture(Capture* c) {
  capture_ = c;
  for (auto& b : blocks) {
    for (auto* l : {&b->q, &b->k, &b->v, &b->o, &b->gate, &b->up, &b->down}) (*l)->capture = c;
    b->attn_norm->capture = c;
    b->mlp_norm->capture = c;
  }
  norm->capture = c;
  head->capture = c;
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
  Decoder m(c);
  m->eval();
  return m;
}

namespace {

// Fills a Batch from rows of samples: rows[r] lists the samples in row r, in order.
Batch layout_batch(const std::vector<const Encoded*>& samples, const std::vector<std::vector<int64_t>>& rows,
                   int64_t L, bool packed, int64_t pad) {
  const int64_t R = static_cast<int64_t>(rows.size());
  const int64_t n = static_cast<int64_t>(samples.size());
  int64_t tmax = 1;
  for (const auto* s : samples) tmax = std::max<int64_t>(tmax, static_cast<int64_t>(s->ids.size()));
  const float inf = std::numeric_limits<float>::infinity();
  Batch b;
  b.samples = n;
  b.ids = torch::full({R, L}, pad, torch::kInt64);
  b.targets = torch::full({R, L}, -100, torch::kInt64);
  b.positions = torch::zeros({R, L}, torch::kInt64);
  b.seg = torch::full({R, L}, -1, torch::kInt64);
  b.token_index = torch::full({n, tmax}, R * L, torch::kInt64);
  auto ia = b.ids.accessor<int64_t, 2>();
  auto ta = b.targets.accessor<int64_t, 2>();
  auto pa = b.positions.accessor<int64_t, 2>();
  auto sa = b.seg.accessor<int64_t, 2>();
  auto xa = b.token_index.accessor<int64_t, 2>();
  // Packed rows get an additive mask [R,1,L,L]: causal within each sample, -inf across.
  b.mask = packed ? torch::full({R, 1, L, L}, -inf) : torch::full({L, L}, -inf).triu(1);
  float* mp = b.mask.data_ptr<float>();  // packed: row r, query q, key k at (r*L + q)*L + k
  for (int64_t r = 0; r < R; ++r) {
    int64_t off = 0;
    for (int64_t i : rows[static_cast<size_t>(r)]) {
      const auto& e = *samples[static_cast<size_t>(i)];
      const int64_t len = static_cast<int64_t>(e.ids.size());
      for (int64_t t = 0; t < len; ++t) {
        ia[r][off + t] = e.ids[static_cast<size_t>(t)];
        pa[r][off + t] = t;
        sa[r][off + t] = i;
        xa[i][t] = r * L + off + t;
        // position t predicts token t+1; only response tokens are targets
        if (t + 1 < len && t + 1 >= e.response_start) ta[r][off + t] = e.ids[static_cast<size_t>(t + 1)];
        if (packed)
          for (int64_t u = 0; u <= t; ++u) mp[(r * L + off + t) * L + off + u] = 0.0f;
      }
      off += len;
    }
    // padding positions attend to themselves only, so no softmax row is empty
    if (packed)
      for (int64_t t = off; t < L; ++t) mp[(r * L + t) * L + t] = 0.0f;
  }
  return b;
}

}  // namespace

Batch make_batch(const std::vector<const Encoded*>& samples, int64_t pad) {
  int64_t T = 1;
  for (const auto* s : samples) T = std::max<int64_t>(T, static_cast<int64_t>(s->ids.size()));
  std::vector<std::vector<int64_t>> rows;
  for (size_t i = 0; i < samples.size(); ++i) rows.push_back({static_cast<int64_t>(i)});
  return layout_batch(samples, rows, T, false, pad);
}

Batch pack_batch(const std::vector<const Encoded*>& samples, int64_t row_len, int64_t pad) {
  std::vector<int64_t> order(samples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return samples[static_cast<size_t>(a)]->ids.size() > samples[static_cast<size_t>(b)]->ids.size();
  });
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> used;
  int64_t L = 1;
  for (int64_t i : order) {
    const int64_t len = static_cast<int64_t>(samples[static_cast<size_t>(i)]->ids.size());
    TORCH_CHECK(len <= row_len, "pack_batch: a sample of ", len, " tokens does not fit rows of ", row_len);
    size_t r = 0;
    while (r < rows.size() && used[r] + len > row_len) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      used.push_back(0);
    }
    rows[r].push_back(i);
    used[r] += len;
    L = std::max(L, used[r]);
  }
  return layout_batch(samples, rows, L, true, pad);
}

torch::Device device_of(const Decoder& model) { return model->embed->weight.device(); }

Batch to_device(const Batch& b, const torch::Device& d) {
  if (b.ids.device() == d) return b;
  Batch out = b;
  for (auto* t : {&out.ids, &out.targets, &out.positions, &out.seg, &out.token_index, &out.mask})
    if (t->defined()) *t = t->to(d);
  return out;
}

namespace {

// Every token's cross-entropy (0 where it is not a target) and the sample it belongs to.
struct TokenLosses {
  torch::Tensor loss, sample, is_target;  // [R·T] each
  int64_t samples = 0;
};

TokenLosses token_losses(Decoder& model, const Batch& host_batch) {
  const Batch batch = to_device(host_batch, device_of(model));
  auto logits = model->forward(batch.ids, batch.positions, batch.mask);
  const int64_t R = logits.size(0), T = logits.size(1), V = logits.size(2);
  // Low-precision logits are upcast; float64 (gradient checks) stays float64.
  auto flat = logits.reshape({R * T, V});
  if (flat.scalar_type() != torch::kFloat64) flat = flat.to(torch::kFloat32);
  auto tok = F::cross_entropy(flat, batch.targets.reshape({R * T}),
                              F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kNone));
  auto is_target = (batch.targets.reshape({R * T}) != -100).to(tok.scalar_type());
  return {tok * is_target, batch.seg.reshape({R * T}).clamp_min(0), is_target, batch.samples};
}

torch::Tensor mean_per_sample(const TokenLosses& t) {
  auto sums = torch::zeros({t.samples}, t.loss.options()).index_add(0, t.sample, t.loss);
  auto counts = torch::zeros({t.samples}, t.loss.options()).index_add(0, t.sample, t.is_target);
  return sums / counts.clamp_min(1);
}

}  // namespace

torch::Tensor per_sample_loss(Decoder& model, const Batch& host_batch) {
  return mean_per_sample(token_losses(model, host_batch));
}

SampleLossStats per_sample_loss_stats(Decoder& model, const Batch& host_batch) {
  const auto t = token_losses(model, host_batch);  // losses are >= 0, so the zeros never win the max
  return {mean_per_sample(t), torch::zeros({t.samples}, t.loss.options()).scatter_reduce(0, t.sample, t.loss, "amax", true)};
}

torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : ts) parts.push_back(t.detach().reshape(-1).to(torch::kFloat32));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts);
}

std::vector<torch::Tensor> split_like(const torch::Tensor& flat, const std::vector<torch::Tensor>& like) {
  std::vector<torch::Tensor> out;
  int64_t off = 0;
  for (const auto& t : like) {
    out.push_back(flat.slice(0, off, off + t.numel()).view(t.sizes()));
    off += t.numel();
  }
  TORCH_CHECK(off == flat.numel(), "a flat vector of ", flat.numel(), " values cut into parameters of ", off, " values");
  return out;
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  torch::NoGradGuard ng;
  const auto parts = split_like(flat, ts);
  for (size_t i = 0; i < ts.size(); ++i) ts[i].copy_(parts[i]);
}

torch::Tensor flatten_grads(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : ts)
    parts.push_back(t.grad().defined() ? t.grad().reshape(-1).to(torch::kFloat32)
                                       : torch::zeros({t.numel()}, t.options().dtype(torch::kFloat32)));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts);
}

}  // namespace clues
