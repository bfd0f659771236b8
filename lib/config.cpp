// The key table, checks and printing of the resolved configuration (lib/config.h).
#include "lib/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

#include "io/error.h"

namespace clues {

NamedPath parse_named_path(const std::string& spec, bool name_required) {
  auto eq = spec.find('=');
  if (eq != std::string::npos && eq > 0) return {spec.substr(0, eq), spec.substr(eq + 1)};
  if (name_required) throw InputError("\"" + spec + "\" must be NAME=PATH (NAME is a silo's name)");
  return {std::filesystem::path(spec).stem().string(), spec};
}

namespace {
void require(bool ok, const std::string& msg) {
  if (!ok) throw InputError(msg);
}
bool is_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}
std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}
}  // namespace

void Config::validate() const {
  require(!silos.empty(), "no silo given: pass --silo PATH (repeatable) or silo= lines in the config file");
  require(!validation.empty() || !validation_domains.empty(), "no validation set: pass --validation PATH (or NAME=PATH per domain)");
  require(validation.empty() || validation_domains.empty(),
          "--validation takes one pooled PATH or NAME=PATH per domain, not both");
  {
    std::set<std::string> domains;
    for (const auto& d : validation_domains) {
      require(is_name(d.name), "validation domain \"" + d.name + "\" may only hold letters, digits, '_', '-', '.'");
      require(domains.insert(d.name).second, "two validation domains are named \"" + d.name + "\": keep one");
    }
  }
  require(std::isfinite(score.other_domains), "score.other_domains must be a finite weight");
  require(!anchor.empty(), "no anchor set: pass --anchor PATH");
  require(!out.empty(), "no output folder: pass --out DIR");
  std::set<std::string> names;
  for (const auto& s : silos) {
    require(is_name(s.name), "silo name \"" + s.name + "\" may only hold letters, digits, '_', '-', '.': name it with NAME=PATH");
    require(names.insert(s.name).second, "two silos are named \"" + s.name + "\": give one a different NAME=PATH");
  }
  for (const auto* list : {&tests, &labels})
    for (const auto& t : *list)
      require(names.count(t.name), "\"" + t.name + "=" + t.path + "\" names no silo; silos are: " +
                                       join(std::vector<std::string>(names.begin(), names.end()), ", "));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  require(threads >= 1 && threads <= cores, "threads must be between 1 and the " + std::to_string(cores) +
                                                " cores of this machine (LibTorch threads per rank), not " +
                                                std::to_string(threads));
  require(progress_s > 0, "progress must be positive (seconds between progress lines)");
  for (const auto* list : {&tests, &labels}) {
    std::set<std::string> seen;
    for (const auto& t : *list)
      require(seen.insert(t.name).second, "silo \"" + t.name + "\" is given two " +
                                              (list == &tests ? "--test" : "--labels") + " files: keep one");
  }
  const auto& m = model;
  if (m.dir.empty()) {  // a model folder's own shape is checked when its config.json is read
    require(m.vocab >= 260, "model.vocab must be at least 260 (bytes plus special tokens)");
    require(m.d_model > 0 && m.heads > 0 && m.d_model % m.heads == 0, "model.d_model must be a positive multiple of model.heads");
    require((m.d_model / m.heads) % 2 == 0, "model.d_model / model.heads must be even (rotary positions)");
  } else {
    require(pretrain.corpus.empty(), "--pretrain trains the built-in model from scratch; a --model folder is already "
                                     "pretrained: leave one of them out");
  }
  require(m.dtype == DType::kFloat32 || m.finetune == Finetune::kLora,
          "model.dtype " + to_string(m.dtype) + " needs model.finetune=lora (trained weights, gradients and Adam "
          "state stay float32): use model.dtype=float32 for full fine-tuning");
  require(m.layers > 0 && m.hidden > 0, "model.layers and model.hidden must be positive");
  require(m.max_seq_len >= 8, "model.max_seq_len must be at least 8");
  if (m.finetune == Finetune::kLora) {
    require(m.lora_rank > 0, "model.lora_rank must be positive");
    require(!m.lora_targets.empty(), "model.lora_targets must name at least one projection");
    require(m.lora_dropout >= 0 && m.lora_dropout < 1, "model.lora_dropout must be in [0, 1)");
    for (const auto& t : m.lora_targets)
      require(std::set<std::string>{"q", "k", "v", "o", "gate", "up", "down"}.count(t),
              "model.lora_targets: unknown projection \"" + t + "\" (use q,k,v,o,gate,up,down)");
  }
  const auto& t = train;
  require(t.rounds >= 1, "train.rounds must be at least 1");
  require(t.local_steps >= 1, "train.local_steps must be at least 1");
  require(t.batch_size >= 1, "train.batch_size must be at least 1");
  require(std::isfinite(t.lr) && t.lr > 0, "train.lr must be a positive finite number");
  require(std::isfinite(t.eps) && t.eps >= std::numeric_limits<float>::min(),  // smaller is 0 in float32
          "train.eps must be positive and at least 1.2e-38, float32's smallest normal number (it keeps Adam's division "
          "finite; 1e-8 is usual)");
  require(std::isfinite(t.weight_decay) && t.weight_decay >= 0, "train.weight_decay must be 0 or positive");
  require(std::isfinite(t.grad_clip) && t.grad_clip >= 0, "train.grad_clip must be 0 (off) or a positive norm");
  require(t.warmup_frac >= 0 && t.warmup_frac < 1, "train.warmup_frac must be in [0, 1)");
  require(t.min_lr_frac >= 0 && t.min_lr_frac <= 1, "train.min_lr_frac must be in [0, 1]");
  require(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1, "train.beta1 and train.beta2 must be in [0, 1)");
  require(!(score.engine == Engine::kGhost && score.precondition != Precondition::kSgd),
          "score.engine=ghost computes SGD scores only: set score.precondition=sgd, or use score.engine=batched for Adam");
  require(!(score.engine == Engine::kGhost && score.normalize == Normalize::kUnit),
          "score.engine=ghost cannot normalise gradients: use score.engine=batched with score.normalize=unit");
  require(score.batch_size >= 1, "score.batch_size must be at least 1");
  require(score.project_dim >= 0, "score.project_dim must be 0 (off) or positive");
  require(score.project_dim == 0 || score.engine == Engine::kBatched,
          "score.project_dim needs the per-sample gradients of score.engine=batched");
  const auto& s = select;
  require(s.quantile >= 0 && s.quantile <= 1, "select.quantile must be in [0, 1]");
  require(s.keep_ratio >= 0 && s.keep_ratio <= 1, "select.keep_ratio must be in [0, 1]");
  require(s.loss_weight >= 0 && s.loss_weight <= 1, "select.loss_weight must be in [0, 1]");
  require(std::isfinite(s.value), "select.value must be a finite number");
  require(pretrain.steps >= 1 && pretrain.batch_size >= 1 && std::isfinite(pretrain.lr) && pretrain.lr > 0,
          "pretrain.steps, pretrain.batch_size and pretrain.lr must be positive");
  require(pretrain.corpus.empty() || !pretrain.cache.empty(), "pretrain.cache: give a folder for the pretrained base");
  require(pretrain.seed >= -1, "pretrain.seed must be -1 (the run's seed) or a seed >= 0");
  require(compare.seeds >= 1, "compare.seeds must be at least 1");
  require(!(resume && overwrite), "--resume and --overwrite exclude each other: pick one");
  require(!(threshold_scope() == Scope::kSilo && s.anchor_moments == Moments::kServer),
          "select.scope=silo needs the anchors scored with each silo's moments: set select.anchor_moments=silo");
  if (collab == Collab::kMerge) {
    require(score.moments == Moments::kSilo && s.anchor_moments == Moments::kSilo,
            "collab=merge scores every set along its own silo's checkpoints, with no server moments: set "
            "score.moments=silo and select.anchor_moments=silo");
  }
  require(merge.density > 0 && merge.density <= 1, "merge.density must be in (0, 1] (the share of each task tensor TIES keeps)");
  require(std::isfinite(merge.scale) && merge.scale > 0, "merge.scale must be a positive finite number");
}

Scope Config::threshold_scope() const {
  if (select.scope != Scope::kAuto) return select.scope;
  return collab == Collab::kMerge ? Scope::kSilo : Scope::kGlobal;
}

// ---- enum spellings

template <>
const std::vector<Choice<Device>>& choices<Device>() {
  static const std::vector<Choice<Device>> c = {{Device::kAuto, "auto"}, {Device::kCpu, "cpu"}, {Device::kCuda, "cuda"}};
  return c;
}
template <>
const std::vector<Choice<Finetune>>& choices<Finetune>() {
  static const std::vector<Choice<Finetune>> c = {{Finetune::kLora, "lora"}, {Finetune::kFull, "full"}};
  return c;
}
template <>
const std::vector<Choice<Attention>>& choices<Attention>() {
  static const std::vector<Choice<Attention>> c = {{Attention::kManual, "manual"}, {Attention::kSdpa, "sdpa"}};
  return c;
}
template <>
const std::vector<Choice<Engine>>& choices<Engine>() {
  static const std::vector<Choice<Engine>> c = {{Engine::kLoop, "loop"}, {Engine::kBatched, "batched"}, {Engine::kGhost, "ghost"}};
  return c;
}
template <>
const std::vector<Choice<Precondition>>& choices<Precondition>() {
  static const std::vector<Choice<Precondition>> c = {
      {Precondition::kAdam, "adam"}, {Precondition::kRms, "rms"}, {Precondition::kSgd, "sgd"}};
  return c;
}
template <>
const std::vector<Choice<Moments>>& choices<Moments>() {
  static const std::vector<Choice<Moments>> c = {{Moments::kSilo, "silo"}, {Moments::kServer, "server"}};
  return c;
}
template <>
const std::vector<Choice<Normalize>>& choices<Normalize>() {
  static const std::vector<Choice<Normalize>> c = {{Normalize::kNone, "none"}, {Normalize::kUnit, "unit"}};
  return c;
}
template <>
const std::vector<Choice<ThresholdRule>>& choices<ThresholdRule>() {
  static const std::vector<Choice<ThresholdRule>> c = {{ThresholdRule::kMean, "mean"},
                                                       {ThresholdRule::kQuantile, "quantile"},
                                                       {ThresholdRule::kFixed, "fixed"},
                                                       {ThresholdRule::kRatio, "ratio"}};
  return c;
}
template <>
const std::vector<Choice<DType>>& choices<DType>() {
  static const std::vector<Choice<DType>> c = {{DType::kFloat32, "float32"}, {DType::kBFloat16, "bfloat16"}, {DType::kFloat16, "float16"}};
  return c;
}
template <>
const std::vector<Choice<Template>>& choices<Template>() {
  static const std::vector<Choice<Template>> c = {{Template::kAuto, "auto"}, {Template::kPlain, "plain"}, {Template::kAlpaca, "alpaca"}};
  return c;
}
template <>
const std::vector<Choice<LossOn>>& choices<LossOn>() {
  static const std::vector<Choice<LossOn>> c = {{LossOn::kResponse, "response"}, {LossOn::kSequence, "sequence"}};
  return c;
}
template <>
const std::vector<Choice<Row>>& choices<Row>() {
  static const std::vector<Choice<Row>> c = {{Row::kClues, "clues"},         {Row::kBlend, "blend"}, {Row::kFull, "full"},
                                             {Row::kRandom, "random"},
                                             {Row::kPerplexity, "perplexity"}, {Row::kIfd, "ifd"},     {Row::kDatainf, "datainf"},
                                             {Row::kRatio, "ratio"},         {Row::kOracle, "oracle"}};
  return c;
}
template <>
const std::vector<Choice<Collab>>& choices<Collab>() {
  static const std::vector<Choice<Collab>> c = {{Collab::kFedAvg, "fedavg"}, {Collab::kMerge, "merge"}};
  return c;
}
template <>
const std::vector<Choice<MergeMethod>>& choices<MergeMethod>() {
  static const std::vector<Choice<MergeMethod>> c = {
      {MergeMethod::kTies, "ties"}, {MergeMethod::kLinear, "linear"}, {MergeMethod::kTaskArithmetic, "task_arithmetic"}};
  return c;
}
template <>
const std::vector<Choice<MergeWeights>>& choices<MergeWeights>() {
  static const std::vector<Choice<MergeWeights>> c = {{MergeWeights::kEqual, "equal"}, {MergeWeights::kSamples, "samples"}};
  return c;
}
template <>
const std::vector<Choice<Scope>>& choices<Scope>() {
  static const std::vector<Choice<Scope>> c = {{Scope::kAuto, "auto"}, {Scope::kGlobal, "global"}, {Scope::kSilo, "silo"}};
  return c;
}
template <>
const std::vector<Choice<Rank>>& choices<Rank>() {
  static const std::vector<Choice<Rank>> c = {{Rank::kClues, "clues"}, {Rank::kBlend, "blend"}};
  return c;
}

template <typename E>
std::string to_string(E value) {
  for (const auto& c : choices<E>())
    if (c.value == value) return c.name;
  return "?";
}

template <typename E>
E parse_choice(const std::string& key, const std::string& text) {
  std::vector<std::string> names;
  for (const auto& c : choices<E>()) {
    if (text == c.name) return c.value;
    names.emplace_back(c.name);
  }
  throw InputError(key + ": \"" + text + "\" is not one of " + join(names, ", "));
}

#define CLUES_ENUM(E)                          \
  template std::string to_string<E>(E);        \
  template E parse_choice<E>(const std::string&, const std::string&);
CLUES_ENUM(Device)
CLUES_ENUM(Finetune)
CLUES_ENUM(Engine)
CLUES_ENUM(Attention)
CLUES_ENUM(Precondition)
CLUES_ENUM(Moments)
CLUES_ENUM(Normalize)
CLUES_ENUM(ThresholdRule)
CLUES_ENUM(Row)
CLUES_ENUM(DType)
CLUES_ENUM(Template)
CLUES_ENUM(LossOn)
CLUES_ENUM(Collab)
CLUES_ENUM(MergeMethod)
CLUES_ENUM(MergeWeights)
CLUES_ENUM(Scope)
CLUES_ENUM(Rank)
#undef CLUES_ENUM

std::vector<Row> parse_rows(const std::string& text) {
  if (text == "none") return {};
  if (text == "all") return CompareConfig{}.rows;
  std::vector<Row> rows;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) rows.push_back(parse_choice<Row>("compare.rows (all, none, or a list)", item));
  return rows;
}

std::vector<Row> compare_rows(const CompareConfig& cc, bool labelled) {
  std::vector<Row> out;
  for (const auto& c : choices<Row>())  // table order, each once
    if (std::find(cc.rows.begin(), cc.rows.end(), c.value) != cc.rows.end() && (c.value != Row::kOracle || labelled))
      out.push_back(c.value);
  return out;
}

// ---- values as text and back

namespace {

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
std::string text_of(const std::vector<Row>& rows) {
  if (rows.empty()) return "none";
  if (rows == CompareConfig{}.rows) return "all";
  std::vector<std::string> names;
  for (Row r : rows) names.push_back(to_string(r));
  return join(names, ",");
}
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
  } else if constexpr (std::is_same_v<T, std::vector<Row>>) {
    return parse_rows(text);
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

// --validation PATH (one pooled set) or NAME=PATH (one per domain, repeatable).
ConfigKey validation_key() {
  ConfigKey k;
  k.name = "validation";
  k.help = "public high-quality JSONL whose mean gradient defines 'good': one PATH (pooled), or NAME=PATH per "
           "domain (repeatable; see score.other_domains)";
  k.repeatable = true;
  k.get = [](const Config& c) {
    if (!c.validation.empty() || c.validation_domains.empty()) return std::vector<std::string>{c.validation};
    std::vector<std::string> out;
    for (const auto& d : c.validation_domains) out.push_back(d.name + "=" + d.path);
    return out;
  };
  k.set = [](Config& c, const std::string& v) {
    const auto eq = v.find('=');
    if (eq != std::string::npos && eq > 0) {
      c.validation_domains.push_back(parse_named_path(v, true));
    } else {
      require(c.validation.empty(), "--validation: give one pooled PATH, or NAME=PATH for each domain");
      c.validation = v;
    }
  };
  return k;
}

std::vector<ConfigKey> make_keys() {
#define F(member) [](Config& c) -> auto& { return c.member; }
  std::vector<ConfigKey> k = {
      paths_key("silo", &Config::silos, false, "private JSONL of one silo, PATH or NAME=PATH (repeatable)"),
      validation_key(),
      key("anchor", F(anchor), "public JSONL scored like private data to set the global threshold"),
      key("out", F(out), "output folder"),
      key("model", F(model.dir), "a Hugging Face model folder (LLaMA, Mistral, Qwen2: config.json, *.safetensors, tokenizer); default: the built-in model"),
      paths_key("test", &Config::tests, true, "NAME=PATH: clean held-out JSONL of silo NAME (evaluation only)"),
      paths_key("labels", &Config::labels, true, "NAME=PATH: 0 clean / 1 low quality per line of silo NAME (evaluation only)"),
      key("seed", F(seed), "random seed (model init, data order)"),
      key("threads", F(threads), "LibTorch threads per rank"),
      key("device", F(device), "auto | cpu | cuda: cuda puts each rank on the GPU of its node-local rank (needs a CUDA LibTorch)"),
      key("progress", F(progress_s), "seconds between progress lines"),
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
      key("train.batch_size", F(train.batch_size), "samples per step"),
      key("train.lr", F(train.lr), "peak learning rate"),
      key("train.warmup_frac", F(train.warmup_frac), "share of steps warming up", true),
      key("train.min_lr_frac", F(train.min_lr_frac), "final lr / peak lr", true),
      key("train.beta1", F(train.beta1), "Adam beta1", true),
      key("train.beta2", F(train.beta2), "Adam beta2", true),
      key("train.eps", F(train.eps), "Adam epsilon", true),
      key("train.weight_decay", F(train.weight_decay), "AdamW decoupled weight decay", true),
      key("train.grad_clip", F(train.grad_clip), "gradient norm clip, 0 = off", true),
      key("score.engine", F(score.engine), "loop (reference, one backward per sample) | batched | ghost (SGD only)"),
      key("score.precondition", F(score.precondition), "adam (m'/sqrt(v'), as LESS) | rms (g/sqrt(v'): no momentum term) | sgd"),
      key("score.moments", F(score.moments), "Adam moments for private samples: silo (each silo's own) | server (the averaged ones, as for anchors)"),
      key("score.normalize", F(score.normalize), "none | unit (cosine: preconditioned gradient scaled to unit length)"),
      key("score.batch_size", F(score.batch_size), "samples per batch (validation gradient)"),
      key("score.project_dim", F(score.project_dim), "k > 0: write k-dim random projections of the preconditioned gradients to OUT/features/ (batched engine)"),
      key("score.project_seed", F(score.project_seed), "seed of the projection matrix"),
      key("score.other_domains", F(score.other_domains), "with --validation NAME=PATH per domain: weight of the other domains' gradients in a silo's target (its own domain: 1)"),
      key("select.threshold", F(select.threshold), "quantile (default: keep what scores at least the anchors' select.quantile) | mean (the mean anchor score) | fixed | ratio"),
      key("select.quantile", F(select.quantile), "quantile of the anchor scores (threshold=quantile; 0.2: the lowest fifth of the clean anchors)"),
      key("select.value", F(select.value), "threshold value (threshold=fixed)"),
      key("select.keep_ratio", F(select.keep_ratio), "share kept per silo (threshold=ratio, baseline)"),
      key("select.anchor_moments", F(select.anchor_moments), "anchors for the threshold scored with: silo (each silo's own moments, like its samples) | server (the averaged moments, fedavg only)"),
      key("select.scope", F(select.scope), "auto (global with collab=fedavg, silo with collab=merge) | global (one threshold: the rule on every silo's anchor scores pooled) | silo (each silo's own threshold from its anchor scores)"),
      key("select.rank", F(select.rank), "blend (default: as many per silo as the threshold keeps, ranked by a blend of the CLUES score and the warm-up loss) | clues (the paper's: every sample scoring at least the threshold)"),
      key("select.loss_weight", F(select.loss_weight), "rank=blend and the blend row: weight of the loss's within-silo percentile (the CLUES score's: 1 - it)"),
      key("pretrain.steps", F(pretrain.steps), "optimizer steps of pretraining (all weights)", true),
      key("pretrain.batch_size", F(pretrain.batch_size), "samples per pretraining step", true),
      key("pretrain.lr", F(pretrain.lr), "peak learning rate of pretraining", true),
      key("pretrain.seed", F(pretrain.seed), "seed of the base's initialisation and data order; -1: the run's --seed (a study can vary --seed over one base)"),
      key("pretrain.cache", F(pretrain.cache), "folder of pretrained bases, reused when corpus and settings match (default $CLUES_CACHE, else $XDG_CACHE_HOME/clues or ~/.cache/clues)"),
      key("compare.rows", F(compare.rows), "after selection, fine-tune and evaluate on --test: all | none | list of clues,full,random,perplexity,ifd,datainf,ratio,oracle"),
      key("compare.seeds", F(compare.seeds), "fine-tunings per comparison row (data-order seeds seed, seed+1, ...): mean figures and the spread of the macro test loss"),
      key("merge.method", F(merge.method), "collab=merge: ties | linear | task_arithmetic (PEFT's add_weighted_adapter: ties, linear, svd)"),
      key("merge.weights", F(merge.weights), "collab=merge: equal | samples (proportional to each silo's kept samples)"),
      key("merge.density", F(merge.density), "collab=merge, ties: share of each task tensor kept (the paper's research code: 0.2)"),
      key("merge.scale", F(merge.scale), "collab=merge: factor on every merge weight"),
  };
#undef F
  ConfigKey corpus;
  corpus.name = "pretrain";
  corpus.help = "public JSONL or plain text: pretrain the base model on it first (repeatable)";
  corpus.repeatable = true;
  corpus.get = [](const Config& c) { return c.pretrain.corpus; };
  corpus.set = [](Config& c, const std::string& v) { c.pretrain.corpus.push_back(v); };
  k.insert(k.begin() + 6, corpus);  // with the other inputs
  for (auto& x : k)
    if (x.name == "progress") x.recorded = false;  // how often to print changes no result
  return k;
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = make_keys();
  return keys;
}

std::string Config::to_ini() const {
  std::ostringstream os;
  std::string section;
  for (const auto& k : config_keys()) {
    if (!k.recorded) continue;
    const auto dot = k.name.find('.');
    const std::string sec = dot == std::string::npos ? "" : k.name.substr(0, dot);
    if (sec != section) {
      os << "\n[" << sec << "]\n";
      section = sec;
    }
    for (const auto& v : k.get(*this)) os << k.name.substr(dot == std::string::npos ? 0 : dot + 1) << " = " << v << "\n";
  }
  return os.str();
}

std::string base_settings(const Config& cfg) {
  std::string out;
  for (const auto& k : config_keys())
    if (k.base) out += k.name + " = " + k.get(cfg).front() + "\n";
  return out;
}

}  // namespace clues
