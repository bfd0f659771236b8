// The table of configuration keys (lib/config/config.h): each key's name, help, and how it
// reads and writes its value as text; the command line, the INI file, to_ini() and the
// pretraining cache key all go through it.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <type_traits>

#include "io/error.h"
#include "lib/config/config.h"

namespace clues {

// ---- values as text and back

namespace {

void require(bool ok, const std::string& msg) {
  if (!ok) throw InputError(msg);
}
std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// The shortest decimal text that reads back as exactly `v`.
std::string text_of(double v) {
  char buf[40];
  for (int p = 6; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
std::string text_of(int64_t v) { return std::to_string(v); }
std::string text_of(int v) { return std::to_string(v); }
std::string text_of(bool v) { return v ? "true" : "false"; }
std::string text_of(uint64_t v) { return std::to_string(v); }
std::string text_of(const std::string& v) { return v; }
std::string text_of(const std::vector<std::string>& v) { return join(v, ","); }
template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>>
std::string text_of(E v) {
  return to_string(v);
}

template <typename T>
T value_of(const std::string& key, const std::string& text) {
  if constexpr (std::is_enum_v<T>) {
    return parse_choice<T>(key, text);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return text;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::vector<std::string> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(item);
    return out;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "yes" || text == "1") return true;
    if (text == "false" || text == "no" || text == "0") return false;
    throw InputError(key + ": \"" + text + "\" is not true or false");
  } else {
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    T v{};
    if constexpr (std::is_floating_point_v<T>) {
      v = std::strtod(begin, &end);
    } else if constexpr (std::is_signed_v<T>) {
      const long long x = std::strtoll(begin, &end, 10);
      v = static_cast<T>(x);
      if (static_cast<long long>(v) != x) errno = ERANGE;
    } else {
      if (text.find('-') != std::string::npos) errno = ERANGE;
      v = static_cast<T>(std::strtoull(begin, &end, 10));
    }
    require(!text.empty() && end && *end == '\0', key + ": \"" + text + "\" is not a number");
    require(errno != ERANGE, key + ": " + text + " is out of range");
    return v;
  }
}

// A key of one value, read and written through `field` (a lambda returning the member).
template <typename F>
ConfigKey key(const char* name, F field, const char* help, bool base = false) {
  using T = std::decay_t<decltype(field(std::declval<Config&>()))>;
  ConfigKey k;
  k.name = name;
  k.help = help;
  k.base = base;
  k.get = [field](const Config& c) { return std::vector<std::string>{text_of(field(const_cast<Config&>(c)))}; };
  k.set = [field, n = std::string(name)](Config& c, const std::string& v) { field(c) = value_of<T>(n, v); };
  return k;
}

// A repeatable NAME=PATH key (silo, test, labels).
ConfigKey paths_key(const char* name, std::vector<NamedPath> Config::*field, bool name_required, const char* help) {
  ConfigKey k;
  k.name = name;
  k.help = help;
  k.repeatable = true;
  k.get = [field](const Config& c) {
    std::vector<std::string> out;
    for (const auto& p : c.*field) out.push_back(p.name + "=" + p.path);
    return out;
  };
  k.set = [field, name_required](Config& c, const std::string& v) { (c.*field).push_back(parse_named_path(v, name_required)); };
  return k;
}

// A public set given as one pooled PATH or as NAME=PATH per domain (repeatable):
// --validation and --anchor.
ConfigKey public_set_key(const char* name, std::string Config::*pooled, std::vector<NamedPath> Config::*domains,
                         const char* help) {
  ConfigKey k;
  k.name = name;
  k.help = help;
  k.repeatable = true;
  k.get = [pooled, domains](const Config& c) {
    if (!(c.*pooled).empty() || (c.*domains).empty()) return std::vector<std::string>{c.*pooled};
    std::vector<std::string> out;
    for (const auto& d : c.*domains) out.push_back(d.name + "=" + d.path);
    return out;
  };
  k.set = [pooled, domains, n = std::string(name)](Config& c, const std::string& v) {
    const auto eq = v.find('=');
    if (eq != std::string::npos && eq > 0) {
      (c.*domains).push_back(parse_named_path(v, true));
    } else {
      require((c.*pooled).empty(), "--" + n + ": give one pooled PATH, or NAME=PATH for each domain");
      c.*pooled = v;
    }
  };
  return k;
}

// --compare.rows: all | none | a comma list of rule names.
ConfigKey rows_key() {
  ConfigKey k;
  k.name = "compare.rows";
  k.help = "after selection, fine-tune and evaluate on --test: all | none | a comma list of selection rules (clues, "
           "blend, full, random, perplexity, ifd, datainf, ratio, oracle: the rule table, docs/usage.md)";
  k.get = [](const Config& c) { return std::vector<std::string>{c.compare.rows.empty() ? "none" : join(c.compare.rows, ",")}; };
  k.set = [](Config& c, const std::string& v) { c.compare.rows = parse_rows(v); };
  return k;
}

// --pretrain PATH (repeatable): the public corpus.
ConfigKey corpus_key() {
  ConfigKey k;
  k.name = "pretrain";
  k.help = "public JSONL or plain text: pretrain the base model on it first (repeatable)";
  k.repeatable = true;
  k.get = [](const Config& c) { return c.pretrain.corpus; };
  k.set = [](Config& c, const std::string& v) { c.pretrain.corpus.push_back(v); };
  return k;
}

// A key naming input files or folders (their content, not their names, is what a resume
// compares).
ConfigKey input(ConfigKey k) {
  k.input = true;
  return k;
}

// A key left out of to_ini(): it changes no result.
ConfigKey unrecorded(ConfigKey k) {
  k.recorded = false;
  return k;
}

std::vector<ConfigKey> make_keys() {
#define F(member) [](Config& c) -> auto& { return c.member; }
  std::vector<ConfigKey> k = {
      input(paths_key("silo", &Config::silos, false, "private JSONL of one silo, PATH or NAME=PATH (repeatable)")),
      input(public_set_key("validation", &Config::validation, &Config::validation_domains,
                     "public high-quality JSONL whose mean gradient defines 'good': one PATH (pooled), or NAME=PATH per "
                     "domain (repeatable; see score.other_domains)")),
      input(public_set_key("anchor", &Config::anchor, &Config::anchor_domains,
                     "public JSONL scored like private data to set the threshold: one PATH (pooled), or NAME=PATH per "
                     "domain, NAME a silo's name (repeatable: each silo's anchors are its own domain's)")),
      input(key("out", F(out), "output folder")),
      input(key("model", F(model.dir), "a Hugging Face model folder (LLaMA, Mistral, Qwen2: config.json, *.safetensors, tokenizer); default: the built-in model")),
      input(paths_key("test", &Config::tests, true, "NAME=PATH: clean held-out JSONL of silo NAME (evaluation only)")),
      input(corpus_key()),
      input(paths_key("labels", &Config::labels, true, "NAME=PATH: 0 clean / 1 low quality per line of silo NAME (evaluation only)")),
      key("seed", F(seed), "random seed (model init, data order)"),
      key("threads", F(threads), "LibTorch threads per rank"),
      key("device", F(device), "auto | cpu | cuda: cuda puts each rank on the GPU of its node-local rank (needs a CUDA LibTorch)"),
      unrecorded(key("progress", F(progress_s), "seconds between progress lines")),
      key("collab", F(collab), "fedavg (weights and Adam moments averaged every round; scores on the global model) | merge (each silo fine-tunes alone from the base and is scored along its own checkpoints; fine-tunings merged once, see merge.*)"),
      key("final_model", F(final_model), "with --model: fine-tune on the selection and write OUT/adapter (LoRA, PEFT layout) or OUT/model (full); true | false"),
      key("model.vocab", F(model.vocab), "vocabulary size (>= 260)", true),
      key("model.d_model", F(model.d_model), "width", true),
      key("model.layers", F(model.layers), "decoder blocks", true),
      key("model.heads", F(model.heads), "attention heads", true),
      key("model.hidden", F(model.hidden), "SwiGLU hidden width", true),
      key("model.max_seq_len", F(model.max_seq_len), "tokens per sample, longer ones are truncated", true),
      key("model.rope_base", F(model.rope_base), "rotary base", true),
      key("model.attention", F(model.attention), "sdpa (fused scaled_dot_product_attention) | manual (the reference: matmul, mask, softmax)", true),
      key("model.dtype", F(model.dtype), "compute dtype of the base weights: float32 | bfloat16 | float16 (LoRA weights, gradients and Adam state stay float32)"),
      key("model.prompt", F(model.prompt), "prompt template: auto (plain for the built-in model, alpaca for --model) | plain | alpaca"),
      key("model.loss_on", F(model.loss_on), "tokens the loss covers: response | sequence (every token after BOS)"),
      key("model.finetune", F(model.finetune), "lora | full"),
      key("model.lora_rank", F(model.lora_rank), "LoRA rank"),
      key("model.lora_alpha", F(model.lora_alpha), "LoRA alpha (scale = alpha / rank)"),
      key("model.lora_dropout", F(model.lora_dropout), "dropout on LoRA's input while training (0 = off; the paper's research code uses 0.05)"),
      key("model.lora_targets", F(model.lora_targets), "projections with LoRA: of q,k,v,o,gate,up,down"),
      key("train.rounds", F(train.rounds), "rounds = checkpoints"),
      key("train.local_steps", F(train.local_steps), "optimizer steps per silo per round"),
      key("train.local_epochs", F(train.local_epochs), "passes over its own data per silo per round (steps = ceil(epochs * samples / batch_size)); 0 = use train.local_steps"),
      key("train.batch_size", F(train.batch_size), "samples per step"),
      key("train.lr", F(train.lr), "peak learning rate"),
      key("train.warmup_frac", F(train.warmup_frac), "share of steps warming up", true),
      key("train.min_lr_frac", F(train.min_lr_frac), "final lr / peak lr", true),
      key("train.beta1", F(train.beta1), "Adam beta1", true),
      key("train.beta2", F(train.beta2), "Adam beta2", true),
      key("train.eps", F(train.eps), "Adam epsilon", true),
      key("train.weight_decay", F(train.weight_decay), "AdamW decoupled weight decay", true),
      key("train.grad_clip", F(train.grad_clip), "gradient norm clip, 0 = off", true),
      key("train.sample_silos", F(train.sample_silos), "silos training in each round, drawn per round from the seed: 0 = all | a share in (0, 1) | a count >= 1"),
      key("train.loss_on", F(train.loss_on), "tokens training's loss covers: same (as model.loss_on) | response | sequence (the research code: train on the sequence, score the response)"),
      key("score.engine", F(score.engine), "loop (reference, one backward per sample) | batched | ghost (SGD only)"),
      key("score.precondition", F(score.precondition), "adam (m'/sqrt(v'), as LESS) | rms (g/sqrt(v'): no momentum term) | sgd"),
      key("score.moments", F(score.moments), "Adam moments for private samples: silo (each silo's own) | server (the averaged ones, as for anchors)"),
      key("score.normalize", F(score.normalize), "none | unit (cosine: preconditioned gradient scaled to unit length)"),
      key("score.batch_size", F(score.batch_size), "samples per batch (validation gradient)"),
      key("score.project_dim", F(score.project_dim), "k > 0: write k-dim random projections of the preconditioned gradients to OUT/features/ (batched engine)"),
      key("score.project_seed", F(score.project_seed), "seed of the projection matrix"),
      unrecorded(key("score.shared_anchor_mib", F(score.shared_anchor_mib), "MiB for anchor per-sample gradients shared by the silos one model judges (fedavg, batched engine): one backward pass for all of them; 0 = each silo's anchors scored alone (same scores)")),
      key("score.modules", F(score.modules), "trainable tensors entering the score's inner product: empty = all, or modules (q,v,gate,...) or name prefixes (blocks.1, blocks.0.q)"),
      key("score.other_domains", F(score.other_domains), "with --validation NAME=PATH per domain: weight of the other domains' gradients in a silo's target (its own domain: 1)"),
      key("select.threshold", F(select.threshold), "quantile (default: keep what scores at least the anchors' select.quantile) | mean (the mean anchor score) | fixed | ratio"),
      key("select.quantile", F(select.quantile), "quantile of the anchor scores (threshold=quantile; 0.2: the lowest fifth of the clean anchors)"),
      key("select.value", F(select.value), "threshold value (threshold=fixed)"),
      key("select.keep_ratio", F(select.keep_ratio), "share kept per silo (threshold=ratio, baseline)"),
      key("select.anchor_moments", F(select.anchor_moments), "anchors for the threshold scored with: silo (each silo's own moments, like its samples) | server (the averaged moments, fedavg only)"),
      key("select.scope", F(select.scope), "auto (global with collab=fedavg, silo with collab=merge) | global (one threshold: the rule on every silo's anchor scores pooled) | silo (each silo's own threshold from its anchor scores)"),
      key("select.rank", F(select.rank), "the selection rule behind selected/: blend (default, this project's: as many per silo as the threshold keeps, ranked by a blend of the CLUES score and the warm-up loss) | clues (the paper's: every sample scoring at least the threshold) | any rule of compare.rows that needs no labels"),
      key("select.loss_weight", F(select.loss_weight), "rank=blend and the blend row: weight of the loss's within-silo percentile (the CLUES score's: 1 - it)"),
      key("pretrain.steps", F(pretrain.steps), "optimizer steps of pretraining (all weights)", true),
      key("pretrain.batch_size", F(pretrain.batch_size), "samples per pretraining step", true),
      key("pretrain.lr", F(pretrain.lr), "peak learning rate of pretraining", true),
      key("pretrain.seed", F(pretrain.seed), "seed of the base's initialisation and data order; -1: the run's --seed (a study can vary --seed over one base)"),
      input(key("pretrain.cache", F(pretrain.cache), "folder of pretrained bases, reused when corpus and settings match (default $CLUES_CACHE, else $XDG_CACHE_HOME/clues or ~/.cache/clues)")),
      rows_key(),
      key("compare.seeds", F(compare.seeds), "fine-tunings per comparison row (data-order seeds seed, seed+1, ...): mean figures and the spread of the macro test loss"),
      key("merge.method", F(merge.method), "collab=merge: ties | linear | task_arithmetic (PEFT's add_weighted_adapter: ties, linear, svd)"),
      key("merge.weights", F(merge.weights), "collab=merge: equal | samples (proportional to each silo's kept samples)"),
      key("merge.density", F(merge.density), "collab=merge, ties: share of each task tensor kept (the paper's research code: 0.2)"),
      key("merge.scale", F(merge.scale), "collab=merge: factor on every merge weight"),
  };
#undef F
  return k;
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = make_keys();
  return keys;
}

}  // namespace clues
