// The resolved configuration of one clues run: a plain struct of typed settings (every
// choice an enum from the moment it is parsed), the one table of keys that describes them
// (config_keys: it drives the command-line options, the INI file, to_ini() and the
// pretraining cache key), validate() and to_ini(). No argv here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clues {

struct NamedPath {
  std::string name;
  std::string path;
};

enum class Device { kAuto, kCpu, kCuda };               // auto: cuda when there is a GPU
enum class Finetune { kLora, kFull };
enum class Attention { kManual, kSdpa };            // manual: the reference (matmul, mask, softmax)
enum class Engine { kLoop, kBatched, kGhost };          // loop: the reference
enum class Precondition { kAdam, kRms, kSgd };
enum class Moments { kSilo, kServer };                  // whose Adam moments score a set
enum class Normalize { kNone, kUnit };
enum class ThresholdRule { kMean, kQuantile, kFixed, kRatio };
enum class RopeStyle { kInterleaved, kHalf };          // half: Hugging Face's rotate_half
enum class DType { kFloat32, kBFloat16, kFloat16 };     // compute dtype of the base weights
enum class Template { kAuto, kPlain, kAlpaca };         // auto: plain (built-in model) or alpaca (--model)
enum class LossOn { kResponse, kSequence };             // tokens the loss (and every gradient) covers
enum class TrainOn { kSame, kResponse, kSequence };     // tokens training's loss covers; same: model.loss_on
enum class Collab { kFedAvg, kMerge };                  // how the silos train together (README: two modes)
enum class MergeMethod { kTies, kLinear, kTaskArithmetic };  // lib/model/merge.h, as PEFT's add_weighted_adapter
enum class MergeWeights { kEqual, kSamples };
enum class Scope { kAuto, kGlobal, kSilo };
enum class Arch { kClues, kLlama, kMistral, kQwen2 };   // the built-in model, or a model folder's family             // one threshold for every silo, or one per silo

// The spelling of every value of an enum, in declaration order.
template <typename E>
struct Choice {
  E value;
  const char* name;
};
template <typename E>
const std::vector<Choice<E>>& choices();
template <typename E>
std::string to_string(E value);
// The enum value spelled `text`; throws InputError naming `key` and the valid spellings.
template <typename E>
E parse_choice(const std::string& key, const std::string& text);

struct ModelConfig {
  std::string dir;            // a Hugging Face model folder (--model); empty: the built-in model
  int64_t vocab = 260;        // 256 bytes + BOS, EOS, PAD, one reserved
  int64_t d_model = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t hidden = 344;       // SwiGLU hidden width
  int64_t max_seq_len = 128;  // longer samples are truncated (counted and reported)
  double rope_base = 10000.0;
  Attention attention = Attention::kSdpa;  // sdpa: LibTorch's fused scaled_dot_product_attention
  Finetune finetune = Finetune::kLora;
  int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;  // on the adapter's input while training (scoring and evaluation run without)
  std::vector<std::string> lora_targets = {"q", "v"};  // of q k v o gate up down
  DType dtype = DType::kFloat32;  // the base weights' compute dtype; LoRA weights, gradients and Adam state stay float32
  Template prompt = Template::kAuto;
  LossOn loss_on = LossOn::kResponse;

  // Architecture details a model folder's config.json sets (lib/model/hf_model.h); the defaults
  // are the built-in model's.
  Arch arch = Arch::kClues;
  int64_t kv_heads = 0;        // key/value heads (grouped-query attention); 0: heads
  int64_t head_dim = 0;        // 0: d_model / heads
  double norm_eps = 1e-5;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  std::string rope_type = "default";  // default | linear | llama3 (rope scaling)
  double rope_factor = 1.0, rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;
  int64_t rope_original_max = 8192;
  bool qkv_bias = false, o_bias = false;
  bool tied = false;           // output head shares the token embedding
  int64_t bos_id = 256, eos_id = 257, pad_id = 258;
  int64_t n_kv_heads() const { return kv_heads > 0 ? kv_heads : heads; }
  int64_t n_head_dim() const { return head_dim > 0 ? head_dim : d_model / heads; }
};

struct TrainConfig {
  int64_t rounds = 3;          // warm-up rounds = checkpoints
  int64_t local_steps = 20;    // optimizer steps per silo per round
  // > 0: passes over its own data per silo and round instead (steps = ceil(local_epochs ·
  // samples / batch_size)), for many silos of different sizes; 0: local_steps.
  double local_epochs = 0;
  int64_t batch_size = 16;
  double lr = 3e-3;            // peak learning rate
  double warmup_frac = 0.1;    // share of all steps spent warming up (then linear decay)
  double min_lr_frac = 0.1;    // learning rate at the end, as a share of the peak
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double grad_clip = 1.0;      // 0 disables clipping
  // Tokens the training loss covers (warm-up and every fine-tuning): same (as model.loss_on,
  // which every score, loss and evaluation uses) | response | sequence. The research code
  // trains on the whole sequence and takes scoring gradients on the response only.
  TrainOn loss_on = TrainOn::kSame;
  // Silos that train in each round (warm-up and every fine-tuning), drawn per round from
  // the seed: 0 = every silo; in (0, 1): that share of them (at least one); >= 1: that
  // many. The others keep their state and their moments for the round.
  double sample_silos = 0;
};

struct ScoreConfig {
  Engine engine = Engine::kBatched;                   // ghost: SGD only
  Precondition precondition = Precondition::kAdam;    // adam (LESS: m'/sqrt(v')) | rms (g/sqrt(v')) | sgd
  Moments moments = Moments::kSilo;                   // Adam moments for a silo's samples
  Normalize normalize = Normalize::kNone;             // unit: cosine (Γ(g_i) scaled to unit length)
  int64_t batch_size = 16;         // samples per batch (validation gradient, batched and ghost engines)
  int64_t project_dim = 0;         // > 0: write k-dimensional random projections of Γ(g_i) to features/
  // With per-domain validation: a silo's target is Σ_d w_d ḡ_d, w = 1 for the silo's own
  // domain (same name) and this weight for the others (the paper's research code: 1 or 0).
  double other_domains = 1.0;
  uint64_t project_seed = 0;       // seed of the Rademacher projection matrix
  // Memory (MiB) for the anchors' per-sample gradients that the silos judged by one model
  // share (fedavg: every silo of a rank; batched engine): computed once per block of
  // anchors, each silo applying only its own Γ. 0: each silo's anchors scored on their own
  // (the reference path; the same bits, one backward pass per silo).
  double shared_anchor_mib = 1024;
  // Which trainable tensors enter the score's inner product: empty = all; else names of
  // modules (q, v, gate, ...) or name prefixes of whole dot-separated parts ("blocks.1",
  // "blocks.0.q"), matched against the trainable tensors' names (the research code scores
  // chosen modules' gradients).
  std::vector<std::string> modules;
};

struct SelectConfig {
  // quantile (the default): keep what scores at least as high as the anchors' `quantile`
  // (0.2: the lowest fifth of the clean anchors); mean: the mean anchor score (the earlier
  // default, which starved heavily corrupted silos on both benchmarks, docs/results.md).
  ThresholdRule threshold = ThresholdRule::kQuantile;
  double quantile = 0.2;           // with threshold=quantile: quantile of the anchor scores
  double value = 0.0;              // with threshold=fixed
  double keep_ratio = 0.5;         // with threshold=ratio: baseline, fixed share per silo
  // Which preconditioner scores the anchors: silo (each silo's own moments, as its samples
  // are: like with like, by the rank hosting the silo) | server (the averaged moments; one
  // set of anchor scores, the rule applied to it: one global τ).
  Moments anchor_moments = Moments::kSilo;
  // global (the rule applied to every silo's anchor scores pooled, each silo's set once: one
  // τ) | silo (τ_j: the rule applied to silo j's anchor scores) | auto: global under
  // collab=fedavg, silo under collab=merge (whose silos' scores have scales of their own).
  Scope scope = Scope::kAuto;
  // The selection rule that makes the run's selection: a name of the rule table
  // (lib/method/rules.h). blend (the default, this project's: as many per silo as the
  // paper's rule keeps, the highest by (1 - loss_weight)·percentile of the CLUES score +
  // loss_weight·percentile of the negated warm-up loss; docs/results.md has the evidence) |
  // clues (the paper's: every sample at or above τ) | any other rule that needs no labels.
  std::string rank = "blend";
  double loss_weight = 0.75;  // with rank=blend (and the blend comparison row)
};

// collab=merge: how the silos' separately fine-tuned weights are merged once (lib/model/merge.h).
struct MergeConfig {
  MergeMethod method = MergeMethod::kTies;
  MergeWeights weights = MergeWeights::kEqual;  // equal | samples (by kept sample count)
  double density = 0.2;                         // ties: share of each task tensor kept
  double scale = 1.0;                           // multiplies every weight
};

// Pretraining of the base model on public data (--pretrain), before the warm-up: all
// weights, then cached under `cache` by a hash of the corpus and these settings.
struct PretrainConfig {
  std::vector<std::string> corpus;  // JSONL (prompt format) or plain text (one sample per line)
  int64_t steps = 1500;
  int64_t batch_size = 32;
  double lr = 3e-3;
  int64_t seed = -1;                // the base's initialisation and data order; -1: the run's seed
  std::string cache;                // folder of cached bases (the app fills in a default)
};

// The comparison after selection: each row fine-tunes collaboratively from the base model
// on its selection and is evaluated on every silo's --test set (needs --test for all).
struct CompareConfig {
  // The rows asked for: names of the rule table (lib/method/rules.h), or "all" (every rule,
  // table order; those needing labels only with --labels for every silo). Empty: none.
  std::vector<std::string> rows = {"all"};
  // Fine-tunings per row with seeds seed, seed+1, ... (data order); figures are their
  // mean, and the macro test loss gets its standard deviation over them.
  int64_t seeds = 1;
};

struct Config {
  std::vector<NamedPath> silos;
  std::string validation;                     // the pooled public validation set (--validation PATH) ...
  std::vector<NamedPath> validation_domains;  // ... or one per domain (--validation NAME=PATH, repeatable)
  std::string anchor;                         // the pooled public anchor set (--anchor PATH) ...
  std::vector<NamedPath> anchor_domains;      // ... or one per domain (--anchor NAME=PATH; NAME: a silo's name)
  std::string out;
  std::vector<NamedPath> tests;    // clean held-out set per silo (evaluation only)
  std::vector<NamedPath> labels;   // ground truth per silo (evaluation only)
  uint64_t seed = 0;
  bool resume = false;
  bool overwrite = false;
  std::string config_file;         // --config FILE, if given (an input: never inside --out)
  int threads = 1;                 // LibTorch intra-op threads per rank
  bool final_model = true;         // with --model: write the model fine-tuned on the selection (OUT/adapter or OUT/model)
  Device device = Device::kAuto;   // cuda: the GPU of the node-local rank
  // fedavg: weights and Adam moments averaged every round, scores on the global model |
  // merge: every silo fine-tunes alone from the base and is scored along its own
  // checkpoints; the fine-tunings on the selections are merged once (MergeConfig).
  Collab collab = Collab::kFedAvg;
  double progress_s = 10.0;        // seconds between progress lines
  ModelConfig model;
  TrainConfig train;
  ScoreConfig score;
  SelectConfig select;
  PretrainConfig pretrain;
  CompareConfig compare;
  MergeConfig merge;

  // Throws InputError naming the first bad setting and what would fix it.
  void validate() const;
  // select.scope with auto resolved by the collaboration mode.
  Scope threshold_scope() const;
  // The configuration as INI text with the same keys the command line and --config use.
  std::string to_ini() const;
};

// One setting as the command line, the INI file and to_ini() spell it: "train.lr" is
// --train.lr on the command line and `lr` under [train] in the file.
struct ConfigKey {
  std::string name;
  std::string help;
  bool repeatable = false;  // one value per occurrence (--silo a --silo b)
  bool recorded = true;     // part of to_ini() (run_config.ini, the resume check)
  bool base = false;        // the pretrained base depends on it (pretraining cache key)
  bool input = false;       // names input files or folders: compared by content on --resume, not as text
  std::function<std::vector<std::string>(const Config&)> get;  // its values as text
  std::function<void(Config&, const std::string&)> set;        // parses one value (appends if repeatable)
};
// Every key, in the order of the help text and of to_ini().
const std::vector<ConfigKey>& config_keys();
// `name = value` lines of the keys marked base (the pretraining cache key's settings).
std::string base_settings(const Config& cfg);

// "clues,full" -> {"clues", "full"}; "all" -> {"all"}; "none" -> {} (names are checked
// against the rule table by check_rule_names, lib/method/rules.h).
std::vector<std::string> parse_rows(const std::string& text);

// "ita=data/x.jsonl" -> {ita, data/x.jsonl}; "data/ita.jsonl" -> {ita, data/ita.jsonl}.
NamedPath parse_named_path(const std::string& spec, bool name_required);

}  // namespace clues
