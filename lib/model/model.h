// A LLaMA-style decoder in LibTorch: token embedding, pre-norm blocks (RMSNorm, causal
// self-attention with rotary positions, SwiGLU MLP), final RMSNorm and output head.
// LoRA adapters sit on chosen projections; either they or all weights are trainable.
// The same module is the built-in toy model and the LLaMA family of Hugging Face folders
// (lib/model/hf_model.h): grouped-query attention, rotate_half or interleaved rotary positions,
// q/k/v biases (Qwen2), tied embeddings, base weights in bfloat16 or float16.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "lib/config/config.h"
#include "lib/model/tokenizer.h"

namespace clues {

// What a forward pass records for per-sample gradients (docs/method.md): for each layer
// with trainable parameters, its input x (detached; for RMSNorm the normalised input,
// for the embedding the token ids) and its output y (still in the graph, so that
// autograd can return δ = ∂loss/∂y). LibTorch has no module hooks: modules append here.
struct CapturedLayer {
  enum class Kind { kLinear, kNorm, kEmbedding };
  Kind kind;
  torch::nn::Module* module;
  torch::Tensor x, y;
};
struct Capture {
  std::vector<CapturedLayer> layers;
};

// How a Linear is made: sizes, LoRA, bias, and its weight's dtype and initialisation
// (random with init_scale/sqrt(in), or left uninitialised for weights loaded from a file).
struct LinearSpec {
  int64_t in = 0, out = 0;
  int64_t lora_rank = 0;
  double lora_alpha = 0.0;
  double lora_dropout = 0.0;
  double init_scale = 1.0;
  bool bias = false;
  bool random = true;
  torch::ScalarType dtype = torch::kFloat32;
};

// y = x Wᵀ (+ b), plus s·(x Aᵀ) Bᵀ when the layer carries a LoRA adapter (s = alpha / rank).
// The adapter computes in float32 whatever the base weight's dtype (as PEFT does).
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, int64_t lora_rank, double lora_alpha, double init_scale);
  explicit LinearImpl(const LinearSpec& spec);
  // A head tied to the token embedding: uses `shared` as its weight without registering it.
  explicit LinearImpl(torch::Tensor shared);
  torch::Tensor forward(const torch::Tensor& x);
  bool has_lora() const { return lora_A.defined(); }

  torch::Tensor weight;          // [out, in]
  torch::Tensor bias;            // [out]; undefined without bias
  torch::Tensor lora_A, lora_B;  // [r, in], [out, r]; undefined without LoRA
  double scale = 0.0;
  double dropout = 0.0;  // on the adapter's input, in training mode only
  Capture* capture = nullptr;
};
TORCH_MODULE(Linear);

class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t d, double eps = 1e-5, torch::ScalarType dtype = torch::kFloat32);
  // Normalises in float32 and casts back, as Hugging Face's LlamaRMSNorm does.
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
  Capture* capture = nullptr;
};
TORCH_MODULE(RMSNorm);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& c, int64_t layer);
  // x [B,T,D]; cos/sin [B,1,T,Dh/2]; mask additive, [T,T] or [B,1,T,T]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask);
  int64_t heads, kv_heads, head_dim;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  bool sdpa = true;  // fused attention (model.attention); else the reference below it
  RMSNorm attn_norm{nullptr}, mlp_norm{nullptr};
  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(Block);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& c);
  // ids [B,T] -> logits [B,T,V]. positions [B,T] restart at 0 for each sample; mask is
  // additive, [T,T] (causal, one sample per row) or [B,1,T,T] (packed rows: attention
  // confined to each sample, causal within it). make_batch/pack_batch build all three.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& mask);

  // Makes every layer with trainable parameters record into `c` (nullptr stops it).
  void set_capture(Capture* c);
  Capture* capture() const { return capture_; }

  // Trainable parameters with their names, in a fixed order (LoRA A/B, or every weight).
  const std::vector<std::pair<std::string, torch::Tensor>>& trainable() const { return trainable_; }
  std::vector<torch::Tensor> trainable_tensors() const;
  int64_t trainable_numel() const;
  const ModelConfig& config() const { return cfg_; }

  ModelConfig cfg_;
  torch::nn::Embedding embed{nullptr};
  std::vector<Block> blocks;
  RMSNorm norm{nullptr};
  Linear head{nullptr};

 private:
  std::vector<std::pair<std::string, torch::Tensor>> trainable_;
  torch::Tensor inv_freq_;
  Capture* capture_ = nullptr;
};
TORCH_MODULE(Decoder);

// Builds a model with weights drawn from `seed` (identical on every rank), in eval mode
// (no LoRA dropout); training switches to training mode for its steps only. With c.dir set
// the base weights are left uninitialised in c.dtype for load_hf_weights (lib/model/hf_model.h);
// LoRA adapters are always drawn from `seed`, in float32.
Decoder make_model(const ModelConfig& c, uint64_t seed);

// Rotary inverse frequencies [head_dim/2] (float32): the built-in model's (computed in
// float64), or Hugging Face's (float32, with linear or llama3 rope scaling).
torch::Tensor rope_inv_freq(const ModelConfig& c);

// A batch of samples laid out in rows: ids [R,L] (PAD where no sample), targets [R,L] (the
// next token where it is a response token, -100 elsewhere), positions [R,L] (within the
// sample), seg [R,L] (the sample each token belongs to, -1 for padding), token_index
// [n,Tmax] (flat token indices of each sample in order; R*L pads it) and the attention
// mask (undefined: plain causal, one sample per row).
struct Batch {
  torch::Tensor ids, targets, positions, seg, token_index, mask;
  int64_t samples = 0;
};
// One sample per row, padded (with token `pad`, never attended to nor predicted) to the
// longest sample in the batch.
Batch make_batch(const std::vector<const Encoded*>& samples, int64_t pad = 0);
// Samples packed into rows of `row_len` tokens (first fit, longest first); attention is
// confined to each sample and positions restart per sample. row_len >= longest sample.
Batch pack_batch(const std::vector<const Encoded*>& samples, int64_t row_len, int64_t pad = 0);

// The device the model's weights live on, and a batch moved there (a no-op when it is
// already there). Batches are built on the host; the model moves them where it runs.
torch::Device device_of(const Decoder& model);
Batch to_device(const Batch& b, const torch::Device& d);

// Mean cross-entropy over each sample's response tokens: [n] (on the model's device).
torch::Tensor per_sample_loss(Decoder& model, const Batch& batch);
// One forward pass for both: the mean (as per_sample_loss) and the largest response-token
// cross-entropy of each sample (a diagnostic signal, scores.h5).
struct SampleLossStats {
  torch::Tensor mean, max_token;
};
SampleLossStats per_sample_loss_stats(Decoder& model, const Batch& batch);

// Flattened copy of tensors (float32, concatenated in order), and the reverse.
torch::Tensor flatten(const std::vector<torch::Tensor>& ts);
void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts);
// Views of `flat` cut into consecutive pieces shaped like `like` (flatten's layout); checks
// that the sizes add up.
std::vector<torch::Tensor> split_like(const torch::Tensor& flat, const std::vector<torch::Tensor>& like);
// Flattened gradients of `ts` (zeros where a gradient is undefined).
torch::Tensor flatten_grads(const std::vector<torch::Tensor>& ts);

}  // namespace clues
