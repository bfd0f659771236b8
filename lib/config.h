// The resolved configuration of one clues run: a plain struct filled by the app from the
// command line and INI file, checked by validate(), printed by to_ini(). No argv here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clues {

struct NamedPath {
  std::string name;
  std::string path;
};

struct ModelConfig {
  int64_t vocab = 260;        // 256 bytes + BOS, EOS, PAD, one reserved
  int64_t d_model = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t hidden = 344;       // SwiGLU hidden width
  int64_t max_seq_len = 128;  // longer samples are truncated (counted and reported)
  double rope_base = 10000.0;
  std::string finetune = "lora";             // lora | full
  int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  std::vector<std::string> lora_targets = {"q", "v"};  // of q k v o gate up down
};

struct TrainConfig {
  int64_t rounds = 3;          // warm-up rounds = checkpoints
  int64_t local_steps = 20;    // optimizer steps per silo per round
  int64_t batch_size = 16;
  double lr = 3e-3;            // peak learning rate
  double warmup_frac = 0.1;    // share of all steps spent warming up (then linear decay)
  double min_lr_frac = 0.1;    // learning rate at the end, as a share of the peak
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double grad_clip = 1.0;      // 0 disables clipping
};

struct ScoreConfig {
  std::string engine = "batched";  // loop (reference) | batched | ghost (SGD only)
  std::string precondition = "adam";  // adam (LESS: m'/sqrt(v')) | rms (g/sqrt(v')) | sgd
  std::string moments = "silo";    // Adam moments for a silo's samples: silo (its own) | server (averaged)
  std::string normalize = "none";  // none | unit (cosine: Γ(g_i) scaled to unit length)
  int64_t batch_size = 16;         // samples per batch (validation gradient, batched and ghost engines)
  int64_t project_dim = 0;         // > 0: write k-dimensional random projections of Γ(g_i) to features/
  uint64_t project_seed = 0;       // seed of the Rademacher projection matrix
};

struct SelectConfig {
  std::string threshold = "mean";  // mean | quantile | fixed | ratio
  double quantile = 0.5;           // with threshold=quantile: quantile of the anchor scores
  double value = 0.0;              // with threshold=fixed
  double keep_ratio = 0.5;         // with threshold=ratio: baseline, fixed share per silo
  // Which preconditioner scores the anchors that set a silo's threshold: server (one
  // global τ from the averaged moments) | silo (τ_j: the same rule applied to the public
  // anchors scored with silo j's own moments, by the rank hosting it: like with like).
  std::string anchor_moments = "server";
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
  // all | none | comma list of clues, full, random, perplexity, ifd, ratio, oracle
  // (oracle only with --labels for every silo).
  std::string rows = "all";
  // Fine-tunings per row with seeds seed, seed+1, ... (data order); figures are their
  // mean, and the macro test loss gets its standard deviation over them.
  int64_t seeds = 1;
};

struct Config {
  std::vector<NamedPath> silos;
  std::string validation;
  std::string anchor;
  std::string out;
  std::vector<NamedPath> tests;    // clean held-out set per silo (evaluation only)
  std::vector<NamedPath> labels;   // ground truth per silo (evaluation only)
  uint64_t seed = 0;
  bool resume = false;
  bool overwrite = false;
  int threads = 1;                 // LibTorch intra-op threads per rank
  std::string device = "auto";     // auto | cpu | cuda (the GPU of the node-local rank)
  double progress_s = 10.0;        // seconds between progress lines
  ModelConfig model;
  TrainConfig train;
  ScoreConfig score;
  SelectConfig select;
  PretrainConfig pretrain;
  CompareConfig compare;

  // Throws InputError naming the first bad setting and what would fix it.
  void validate() const;
  // The configuration as INI text with the same keys the command line and --config use.
  std::string to_ini() const;
};

// "ita=data/x.jsonl" -> {ita, data/x.jsonl}; "data/ita.jsonl" -> {ita, data/ita.jsonl}.
// Comparison rows in table order, from CompareConfig::rows ("all" expands, oracle only
// when `labelled`); throws InputError for an unknown name.
std::vector<std::string> compare_rows(const CompareConfig& cc, bool labelled);

NamedPath parse_named_path(const std::string& spec, bool name_required);

}  // namespace clues
