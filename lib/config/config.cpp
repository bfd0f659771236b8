// The key table, checks and printing of the resolved configuration (lib/config/config.h).
#include "lib/config/config.h"

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

namespace {

// The silos, the public validation and anchor sets and their domains.
void check_public_sets(const Config& c) {
  require(!c.silos.empty(), "no silo given: pass --silo PATH (repeatable) or silo= lines in the config file");
  require(!c.validation.empty() || !c.validation_domains.empty(), "no validation set: pass --validation PATH (or NAME=PATH per domain)");
  require(c.validation.empty() || c.validation_domains.empty(),
          "--validation takes one pooled PATH or NAME=PATH per domain, not both");
  {
    std::set<std::string> domains;
    for (const auto& d : c.validation_domains) {
      require(is_name(d.name), "validation domain \"" + d.name + "\" may only hold letters, digits, '_', '-', '.'");
      require(domains.insert(d.name).second, "two validation domains are named \"" + d.name + "\": keep one");
    }
  }
  require(std::isfinite(c.score.other_domains), "score.other_domains must be a finite weight");
  require(!c.anchor.empty() || !c.anchor_domains.empty(), "no anchor set: pass --anchor PATH (or NAME=PATH per silo's domain)");
  require(c.anchor.empty() || c.anchor_domains.empty(), "--anchor takes one pooled PATH or NAME=PATH per domain, not both");
  {
    std::set<std::string> domains;
    for (const auto& d : c.anchor_domains) {
      require(is_name(d.name), "anchor domain \"" + d.name + "\" may only hold letters, digits, '_', '-', '.'");
      require(domains.insert(d.name).second, "two anchor sets are named \"" + d.name + "\": keep one");
    }
    for (const auto& s : c.silos)
      require(c.anchor_domains.empty() || domains.count(s.name),
              "silo \"" + s.name + "\" has no anchor set: with per-domain anchors give --anchor " + s.name +
                  "=PATH for every silo (its threshold comes from its own domain's anchors)");
  }
  require(c.score.modules.empty() || (c.score.normalize == Normalize::kNone && c.score.project_dim == 0),
          "score.modules restricts the inner product only: it does not combine with score.normalize=unit or "
          "score.project_dim (their norms and features cover every trainable tensor); drop one of them");
}

// --out, the silos' names and the files given per silo.
void check_names(const Config& c) {
  require(!c.out.empty(), "no output folder: pass --out DIR");
  std::set<std::string> names;
  for (const auto& s : c.silos) {
    require(is_name(s.name), "silo name \"" + s.name + "\" may only hold letters, digits, '_', '-', '.': name it with NAME=PATH");
    require(names.insert(s.name).second, "two silos are named \"" + s.name + "\": give one a different NAME=PATH");
  }
  for (const auto* list : {&c.tests, &c.labels})
    for (const auto& t : *list)
      require(names.count(t.name), "\"" + t.name + "=" + t.path + "\" names no silo; silos are: " +
                                       join(std::vector<std::string>(names.begin(), names.end()), ", "));
}

// This process: LibTorch threads, progress lines, one --test and --labels per silo.
void check_process(const Config& c) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  require(c.threads >= 1 && c.threads <= cores, "threads must be between 1 and the " + std::to_string(cores) +
                                                " cores of this machine (LibTorch threads per rank), not " +
                                                std::to_string(c.threads));
  require(c.progress_s > 0, "progress must be positive (seconds between progress lines)");
  for (const auto* list : {&c.tests, &c.labels}) {
    std::set<std::string> seen;
    for (const auto& t : *list)
      require(seen.insert(t.name).second, "silo \"" + t.name + "\" is given two " +
                                              (list == &c.tests ? "--test" : "--labels") + " files: keep one");
  }
}

// model.*: the built-in shape, or a --model folder (whose own shape its config.json gives).
void check_model(const Config& c) {
  const auto& m = c.model;
  if (m.dir.empty()) {  // a model folder's own shape is checked when its config.json is read
    require(m.vocab >= 260, "model.vocab must be at least 260 (bytes plus special tokens)");
    require(m.d_model > 0 && m.heads > 0 && m.d_model % m.heads == 0, "model.d_model must be a positive multiple of model.heads");
    require((m.d_model / m.heads) % 2 == 0, "model.d_model / model.heads must be even (rotary positions)");
  } else {
    require(c.pretrain.corpus.empty(), "--pretrain trains the built-in model from scratch; a --model folder is already "
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
}

// train.*: the warm-up's and every fine-tuning's optimizer.
void check_train(const Config& c) {
  const auto& t = c.train;
  require(t.rounds >= 1, "train.rounds must be at least 1");
  require(t.local_steps >= 1, "train.local_steps must be at least 1");
  require(std::isfinite(t.local_epochs) && t.local_epochs >= 0 && t.local_epochs <= 1e6,
          "train.local_epochs must be 0 (use train.local_steps) or a positive number of passes");
  require(t.batch_size >= 1, "train.batch_size must be at least 1");
  require(std::isfinite(t.lr) && t.lr > 0, "train.lr must be a positive finite number");
  require(std::isfinite(t.eps) && t.eps >= std::numeric_limits<float>::min(),  // smaller is 0 in float32
          "train.eps must be positive and at least 1.2e-38, float32's smallest normal number (it keeps Adam's division "
          "finite; 1e-8 is usual)");
  require(std::isfinite(t.weight_decay) && t.weight_decay >= 0, "train.weight_decay must be 0 or positive");
  require(std::isfinite(t.grad_clip) && t.grad_clip >= 0, "train.grad_clip must be 0 (off) or a positive norm");
  require(t.warmup_frac >= 0 && t.warmup_frac < 1, "train.warmup_frac must be in [0, 1)");
  require(std::isfinite(t.sample_silos) && t.sample_silos >= 0 && (t.sample_silos < 1 || t.sample_silos == std::floor(t.sample_silos)),
          "train.sample_silos must be 0 (every silo), a share in (0, 1) or a whole number of silos");
  require(t.min_lr_frac >= 0 && t.min_lr_frac <= 1, "train.min_lr_frac must be in [0, 1]");
  require(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1, "train.beta1 and train.beta2 must be in [0, 1)");
}

// score.*: the engine and what it can compute.
void check_score(const Config& c) {
  require(!(c.score.engine == Engine::kGhost && c.score.precondition != Precondition::kSgd),
          "score.engine=ghost computes SGD scores only: set score.precondition=sgd, or use score.engine=batched for Adam");
  require(!(c.score.engine == Engine::kGhost && c.score.normalize == Normalize::kUnit),
          "score.engine=ghost cannot normalise gradients: use score.engine=batched with score.normalize=unit");
  require(c.score.batch_size >= 1, "score.batch_size must be at least 1");
  require(c.score.project_dim >= 0, "score.project_dim must be 0 (off) or positive");
  require(std::isfinite(c.score.shared_anchor_mib) && c.score.shared_anchor_mib >= 0, "score.shared_anchor_mib must be 0 (off) or a positive number of MiB");
  require(c.score.project_dim == 0 || c.score.engine == Engine::kBatched,
          "score.project_dim needs the per-sample gradients of score.engine=batched");
}

// select.*
void check_select(const Config& c) {
  const auto& s = c.select;
  require(s.quantile >= 0 && s.quantile <= 1, "select.quantile must be in [0, 1]");
  require(s.keep_ratio >= 0 && s.keep_ratio <= 1, "select.keep_ratio must be in [0, 1]");
  require(s.loss_weight >= 0 && s.loss_weight <= 1, "select.loss_weight must be in [0, 1]");
  require(std::isfinite(s.value), "select.value must be a finite number");
}

// pretrain.*, compare.*, --resume/--overwrite, and what the collaboration mode needs.
void check_run(const Config& c) {
  require(c.pretrain.steps >= 1 && c.pretrain.batch_size >= 1 && std::isfinite(c.pretrain.lr) && c.pretrain.lr > 0,
          "pretrain.steps, pretrain.batch_size and pretrain.lr must be positive");
  require(c.pretrain.corpus.empty() || !c.pretrain.cache.empty(), "pretrain.cache: give a folder for the pretrained base");
  require(c.pretrain.seed >= -1, "pretrain.seed must be -1 (the run's seed) or a seed >= 0");
  require(c.compare.seeds >= 1, "compare.seeds must be at least 1");
  require(!(c.resume && c.overwrite), "--resume and --overwrite exclude each other: pick one");
  require(!(c.threshold_scope() == Scope::kSilo && c.select.anchor_moments == Moments::kServer),
          "select.scope=silo needs the anchors scored with each silo's moments: set select.anchor_moments=silo");
  if (c.collab == Collab::kMerge) {
    require(c.score.moments == Moments::kSilo && c.select.anchor_moments == Moments::kSilo,
            "collab=merge scores every set along its own silo's checkpoints, with no server moments: set "
            "score.moments=silo and select.anchor_moments=silo");
  }
  require(c.merge.density > 0 && c.merge.density <= 1, "merge.density must be in (0, 1] (the share of each task tensor TIES keeps)");
  require(std::isfinite(c.merge.scale) && c.merge.scale > 0, "merge.scale must be a positive finite number");
}

}  // namespace

// The checks in order, so that the first failing one is reported, each naming what to fix.
void Config::validate() const {
  check_public_sets(*this);
  check_names(*this);
  check_process(*this);
  check_model(*this);
  check_train(*this);
  check_score(*this);
  check_select(*this);
  check_run(*this);
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
const std::vector<Choice<TrainOn>>& choices<TrainOn>() {
  static const std::vector<Choice<TrainOn>> c = {{TrainOn::kSame, "same"}, {TrainOn::kResponse, "response"},
                                                 {TrainOn::kSequence, "sequence"}};
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
const std::vector<Choice<Arch>>& choices<Arch>() {
  static const std::vector<Choice<Arch>> c = {{Arch::kClues, "clues"}, {Arch::kLlama, "llama"}, {Arch::kMistral, "mistral"},
                                              {Arch::kQwen2, "qwen2"}};
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
CLUES_ENUM(DType)
CLUES_ENUM(Template)
CLUES_ENUM(LossOn)
CLUES_ENUM(TrainOn)
CLUES_ENUM(Collab)
CLUES_ENUM(MergeMethod)
CLUES_ENUM(MergeWeights)
CLUES_ENUM(Scope)
CLUES_ENUM(Arch)
#undef CLUES_ENUM

std::vector<std::string> parse_rows(const std::string& text) {
  if (text == "none") return {};
  std::vector<std::string> rows;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) rows.push_back(item);
  require(!rows.empty(), "compare.rows: give all, none, or a comma list of selection rules");
  return rows;
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
