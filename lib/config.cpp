// Checks and prints the resolved configuration (lib/config.h).
#include "lib/config.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

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
  require(!validation.empty(), "no validation set: pass --validation PATH");
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
  require(threads >= 1, "threads must be at least 1");
  require(device == "auto" || device == "cpu" || device == "cuda", "device must be auto, cpu or cuda");
  const auto& m = model;
  require(m.vocab >= 260, "model.vocab must be at least 260 (bytes plus special tokens)");
  require(m.d_model > 0 && m.heads > 0 && m.d_model % m.heads == 0, "model.d_model must be a positive multiple of model.heads");
  require((m.d_model / m.heads) % 2 == 0, "model.d_model / model.heads must be even (rotary positions)");
  require(m.layers > 0 && m.hidden > 0, "model.layers and model.hidden must be positive");
  require(m.max_seq_len >= 8, "model.max_seq_len must be at least 8");
  require(m.finetune == "lora" || m.finetune == "full", "model.finetune must be lora or full");
  if (m.finetune == "lora") {
    require(m.lora_rank > 0, "model.lora_rank must be positive");
    require(!m.lora_targets.empty(), "model.lora_targets must name at least one projection");
    for (const auto& t : m.lora_targets)
      require(std::set<std::string>{"q", "k", "v", "o", "gate", "up", "down"}.count(t),
              "model.lora_targets: unknown projection \"" + t + "\" (use q,k,v,o,gate,up,down)");
  }
  const auto& t = train;
  require(t.rounds >= 1, "train.rounds must be at least 1");
  require(t.local_steps >= 1, "train.local_steps must be at least 1");
  require(t.batch_size >= 1, "train.batch_size must be at least 1");
  require(t.lr > 0, "train.lr must be positive");
  require(t.warmup_frac >= 0 && t.warmup_frac < 1, "train.warmup_frac must be in [0, 1)");
  require(t.min_lr_frac >= 0 && t.min_lr_frac <= 1, "train.min_lr_frac must be in [0, 1]");
  require(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1, "train.beta1 and train.beta2 must be in [0, 1)");
  require(score.engine == "loop" || score.engine == "batched" || score.engine == "ghost",
          "score.engine must be loop (reference), batched or ghost");
  require(!(score.engine == "ghost" && score.precondition != "sgd"),
          "score.engine=ghost computes SGD scores only: set score.precondition=sgd, or use score.engine=batched for Adam");
  require(score.precondition == "adam" || score.precondition == "rms" || score.precondition == "sgd",
          "score.precondition must be adam, rms or sgd");
  require(score.moments == "silo" || score.moments == "server", "score.moments must be silo or server");
  require(score.normalize == "none" || score.normalize == "unit", "score.normalize must be none or unit");
  require(!(score.engine == "ghost" && score.normalize == "unit"),
          "score.engine=ghost cannot normalise gradients: use score.engine=batched with score.normalize=unit");
  require(score.batch_size >= 1, "score.batch_size must be at least 1");
  require(score.project_dim >= 0, "score.project_dim must be 0 (off) or positive");
  require(score.project_dim == 0 || score.engine == "batched",
          "score.project_dim needs the per-sample gradients of score.engine=batched");
  const auto& s = select;
  require(s.threshold == "mean" || s.threshold == "quantile" || s.threshold == "fixed" || s.threshold == "ratio",
          "select.threshold must be mean, quantile, fixed or ratio");
  require(s.quantile >= 0 && s.quantile <= 1, "select.quantile must be in [0, 1]");
  require(s.keep_ratio >= 0 && s.keep_ratio <= 1, "select.keep_ratio must be in [0, 1]");
  require(s.anchor_moments == "server" || s.anchor_moments == "silo", "select.anchor_moments must be server or silo");
  require(pretrain.steps >= 1 && pretrain.batch_size >= 1 && pretrain.lr > 0,
          "pretrain.steps, pretrain.batch_size and pretrain.lr must be positive");
  require(pretrain.corpus.empty() || !pretrain.cache.empty(), "pretrain.cache: give a folder for the pretrained base");
  require(pretrain.seed >= -1, "pretrain.seed must be -1 (the run's seed) or a seed >= 0");
  compare_rows(compare, true);
  require(compare.seeds >= 1, "compare.seeds must be at least 1");
  require(!(resume && overwrite), "--resume and --overwrite exclude each other: pick one");
}

std::string Config::to_ini() const {
  std::ostringstream os;
  os.precision(17);
  for (const auto& s : silos) os << "silo = " << s.name << "=" << s.path << "\n";
  os << "validation = " << validation << "\n";
  os << "anchor = " << anchor << "\n";
  os << "out = " << out << "\n";
  for (const auto& t : tests) os << "test = " << t.name << "=" << t.path << "\n";
  for (const auto& l : labels) os << "labels = " << l.name << "=" << l.path << "\n";
  for (const auto& c : pretrain.corpus) os << "pretrain = " << c << "\n";
  os << "seed = " << seed << "\nthreads = " << threads << "\ndevice = " << device << "\n";
  os << "\n[model]\nvocab = " << model.vocab << "\nd_model = " << model.d_model << "\nlayers = " << model.layers
     << "\nheads = " << model.heads << "\nhidden = " << model.hidden << "\nmax_seq_len = " << model.max_seq_len
     << "\nrope_base = " << model.rope_base << "\nfinetune = " << model.finetune << "\nlora_rank = " << model.lora_rank
     << "\nlora_alpha = " << model.lora_alpha << "\nlora_targets = " << join(model.lora_targets, ",") << "\n";
  os << "\n[train]\nrounds = " << train.rounds << "\nlocal_steps = " << train.local_steps
     << "\nbatch_size = " << train.batch_size << "\nlr = " << train.lr << "\nwarmup_frac = " << train.warmup_frac
     << "\nmin_lr_frac = " << train.min_lr_frac << "\nbeta1 = " << train.beta1 << "\nbeta2 = " << train.beta2
     << "\neps = " << train.eps << "\nweight_decay = " << train.weight_decay << "\ngrad_clip = " << train.grad_clip << "\n";
  os << "\n[score]\nengine = " << score.engine << "\nprecondition = " << score.precondition
     << "\nmoments = " << score.moments << "\nnormalize = " << score.normalize
     << "\nbatch_size = " << score.batch_size << "\nproject_dim = " << score.project_dim
     << "\nproject_seed = " << score.project_seed << "\n";
  os << "\n[select]\nthreshold = " << select.threshold << "\nquantile = " << select.quantile
     << "\nvalue = " << select.value << "\nkeep_ratio = " << select.keep_ratio
     << "\nanchor_moments = " << select.anchor_moments << "\n";
  os << "\n[pretrain]\nsteps = " << pretrain.steps << "\nbatch_size = " << pretrain.batch_size << "\nlr = " << pretrain.lr
     << "\nseed = " << pretrain.seed << "\ncache = " << pretrain.cache << "\n";
  os << "\n[compare]\nrows = " << compare.rows << "\nseeds = " << compare.seeds << "\n";
  return os.str();
}

std::vector<std::string> compare_rows(const CompareConfig& cc, bool labelled) {
  static const std::vector<std::string> known = {"clues", "full", "random", "perplexity", "ifd", "ratio", "oracle"};
  std::vector<std::string> asked;
  if (cc.rows == "none") return {};
  if (cc.rows == "all") {
    asked = known;
  } else {
    std::stringstream ss(cc.rows);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) {
        require(std::find(known.begin(), known.end(), item) != known.end(),
                "compare.rows: unknown row \"" + item + "\" (use all, none, or of " + join(known, ", ") + ")");
        asked.push_back(item);
      }
  }
  std::vector<std::string> out;
  for (const auto& k : known)  // table order, each once
    if (std::find(asked.begin(), asked.end(), k) != asked.end() && (k != "oracle" || labelled)) out.push_back(k);
  return out;
}

}  // namespace clues
