// `clues run` options (apps/options.h).
#include "apps/options.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/error.h"

namespace po = boost::program_options;

namespace clues {

namespace {

// "0.003", not the "0.0030000000000000001" Boost would print for a default.
std::string short_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

bool parse_run_options(const std::vector<std::string>& args, Config& cfg, std::string& help) {
  std::vector<std::string> silos, tests, labels;
  std::string config_file, lora_targets;
  po::options_description general("clues run: collaborative data selection (CLUES)");
  general.add_options()
      ("help,h", "print this help")
      ("config", po::value(&config_file), "INI file with any of these keys; the command line wins")
      ("silo", po::value(&silos)->composing(), "private JSONL of one silo, PATH or NAME=PATH (repeatable)")
      ("validation", po::value(&cfg.validation), "public high-quality JSONL whose mean gradient defines 'good'")
      ("anchor", po::value(&cfg.anchor), "public JSONL scored like private data to set the global threshold")
      ("out", po::value(&cfg.out), "output folder")
      ("test", po::value(&tests)->composing(), "NAME=PATH: clean held-out JSONL of silo NAME (evaluation only)")
      ("labels", po::value(&labels)->composing(), "NAME=PATH: 0 clean / 1 low quality per line of silo NAME (evaluation only)")
      ("seed", po::value(&cfg.seed)->default_value(cfg.seed), "random seed (model init, data order)")
      ("resume", po::bool_switch(&cfg.resume), "continue an unfinished run in --out from its checkpoints")
      ("overwrite", po::bool_switch(&cfg.overwrite), "replace what --out holds")
      ("threads", po::value(&cfg.threads)->default_value(cfg.threads), "LibTorch threads per rank")
      ("device", po::value(&cfg.device)->default_value(cfg.device), "auto | cpu | cuda: cuda puts each rank on the GPU of its node-local rank (needs a CUDA LibTorch)")
      ("progress", po::value(&cfg.progress_s)->default_value(cfg.progress_s, short_number(cfg.progress_s)), "seconds between progress lines");
  po::options_description model("model");
  auto& m = cfg.model;
  model.add_options()
      ("model.vocab", po::value(&m.vocab)->default_value(m.vocab), "vocabulary size (>= 260)")
      ("model.d_model", po::value(&m.d_model)->default_value(m.d_model), "width")
      ("model.layers", po::value(&m.layers)->default_value(m.layers), "decoder blocks")
      ("model.heads", po::value(&m.heads)->default_value(m.heads), "attention heads")
      ("model.hidden", po::value(&m.hidden)->default_value(m.hidden), "SwiGLU hidden width")
      ("model.max_seq_len", po::value(&m.max_seq_len)->default_value(m.max_seq_len), "tokens per sample, longer ones are truncated")
      ("model.rope_base", po::value(&m.rope_base)->default_value(m.rope_base, short_number(m.rope_base)), "rotary base")
      ("model.finetune", po::value(&m.finetune)->default_value(m.finetune), "lora | full")
      ("model.lora_rank", po::value(&m.lora_rank)->default_value(m.lora_rank), "LoRA rank")
      ("model.lora_alpha", po::value(&m.lora_alpha)->default_value(m.lora_alpha, short_number(m.lora_alpha)), "LoRA alpha (scale = alpha / rank)")
      ("model.lora_targets", po::value(&lora_targets)->default_value("q,v"), "projections with LoRA: of q,k,v,o,gate,up,down");
  po::options_description train("warm-up training");
  auto& t = cfg.train;
  train.add_options()
      ("train.rounds", po::value(&t.rounds)->default_value(t.rounds), "rounds = checkpoints")
      ("train.local_steps", po::value(&t.local_steps)->default_value(t.local_steps), "optimizer steps per silo per round")
      ("train.batch_size", po::value(&t.batch_size)->default_value(t.batch_size), "samples per step")
      ("train.lr", po::value(&t.lr)->default_value(t.lr, short_number(t.lr)), "peak learning rate")
      ("train.warmup_frac", po::value(&t.warmup_frac)->default_value(t.warmup_frac, short_number(t.warmup_frac)), "share of steps warming up")
      ("train.min_lr_frac", po::value(&t.min_lr_frac)->default_value(t.min_lr_frac, short_number(t.min_lr_frac)), "final lr / peak lr")
      ("train.beta1", po::value(&t.beta1)->default_value(t.beta1, short_number(t.beta1)), "Adam beta1")
      ("train.beta2", po::value(&t.beta2)->default_value(t.beta2, short_number(t.beta2)), "Adam beta2")
      ("train.eps", po::value(&t.eps)->default_value(t.eps, short_number(t.eps)), "Adam epsilon")
      ("train.weight_decay", po::value(&t.weight_decay)->default_value(t.weight_decay, short_number(t.weight_decay)), "AdamW decoupled weight decay")
      ("train.grad_clip", po::value(&t.grad_clip)->default_value(t.grad_clip, short_number(t.grad_clip)), "gradient norm clip, 0 = off");
  po::options_description score("scoring and selection");
  score.add_options()
      ("score.engine", po::value(&cfg.score.engine)->default_value(cfg.score.engine), "loop (reference, one backward per sample) | batched | ghost (SGD only)")
      ("score.precondition", po::value(&cfg.score.precondition)->default_value(cfg.score.precondition), "adam (m'/sqrt(v'), as LESS) | rms (g/sqrt(v'): no momentum term) | sgd")
      ("score.moments", po::value(&cfg.score.moments)->default_value(cfg.score.moments), "Adam moments for private samples: silo (each silo's own) | server (the averaged ones, as for anchors)")
      ("score.normalize", po::value(&cfg.score.normalize)->default_value(cfg.score.normalize), "none | unit (cosine: preconditioned gradient scaled to unit length)")
      ("score.batch_size", po::value(&cfg.score.batch_size)->default_value(cfg.score.batch_size), "samples per batch (validation gradient)")
      ("score.project_dim", po::value(&cfg.score.project_dim)->default_value(cfg.score.project_dim), "k > 0: write k-dim random projections of the preconditioned gradients to OUT/features/ (batched engine)")
      ("score.project_seed", po::value(&cfg.score.project_seed)->default_value(cfg.score.project_seed), "seed of the projection matrix")
      ("select.threshold", po::value(&cfg.select.threshold)->default_value(cfg.select.threshold), "mean | quantile | fixed | ratio")
      ("select.quantile", po::value(&cfg.select.quantile)->default_value(cfg.select.quantile, short_number(cfg.select.quantile)), "quantile of anchor scores (threshold=quantile)")
      ("select.value", po::value(&cfg.select.value)->default_value(cfg.select.value, short_number(cfg.select.value)), "threshold value (threshold=fixed)")
      ("select.keep_ratio", po::value(&cfg.select.keep_ratio)->default_value(cfg.select.keep_ratio, short_number(cfg.select.keep_ratio)), "share kept per silo (threshold=ratio, baseline)")
      ("select.anchor_moments", po::value(&cfg.select.anchor_moments)->default_value(cfg.select.anchor_moments), "anchors for the threshold scored with: server (averaged moments, one global threshold) | silo (each silo's own moments: a threshold per silo from the same rule)");
  po::options_description pre("pretraining and comparison");
  auto& pc = cfg.pretrain;
  pre.add_options()
      ("pretrain", po::value(&pc.corpus)->composing(), "public JSONL or plain text: pretrain the base model on it first (repeatable)")
      ("pretrain.steps", po::value(&pc.steps)->default_value(pc.steps), "optimizer steps of pretraining (all weights)")
      ("pretrain.batch_size", po::value(&pc.batch_size)->default_value(pc.batch_size), "samples per pretraining step")
      ("pretrain.lr", po::value(&pc.lr)->default_value(pc.lr, short_number(pc.lr)), "peak learning rate of pretraining")
      ("pretrain.seed", po::value(&pc.seed)->default_value(pc.seed),
       "seed of the base's initialisation and data order; -1: the run's --seed (a study can vary --seed over one base)")
      ("pretrain.cache", po::value(&pc.cache), "folder of pretrained bases, reused when corpus and settings match "
                                                "(default $CLUES_CACHE, else $XDG_CACHE_HOME/clues or ~/.cache/clues)")
      ("compare.rows", po::value(&cfg.compare.rows)->default_value(cfg.compare.rows),
       "after selection, fine-tune and evaluate on --test: all | none | list of clues,full,random,perplexity,ifd,ratio,oracle")
      ("compare.seeds", po::value(&cfg.compare.seeds)->default_value(cfg.compare.seeds),
       "fine-tunings per comparison row (data-order seeds seed, seed+1, ...): mean figures and the spread of the macro test loss");
  po::options_description all;
  all.add(general).add(model).add(train).add(score).add(pre);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("help")) {
      std::ostringstream os;
      os << "usage: clues run --silo PATH [--silo PATH ...] --validation PATH --anchor PATH --out DIR [options]\n"
         << all;
      help = os.str();
      return false;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw InputError("cannot open config file " + path);
      // "silo" etc. may repeat in the file; they are added to any given on the command line.
      po::store(po::parse_config_file(in, all), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + "\nHINT: `clues run --help` lists every option");
  }
  for (const auto& s : silos) cfg.silos.push_back(parse_named_path(s, false));
  for (const auto& s : tests) cfg.tests.push_back(parse_named_path(s, true));
  for (const auto& s : labels) cfg.labels.push_back(parse_named_path(s, true));
  cfg.model.lora_targets = split_commas(lora_targets);
  if (cfg.pretrain.cache.empty()) {
    const char* env = std::getenv("CLUES_CACHE");
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    cfg.pretrain.cache = env && *env ? std::string(env)
                         : xdg && *xdg ? std::string(xdg) + "/clues"
                         : home && *home ? std::string(home) + "/.cache/clues"
                         : std::string(".clues_cache");
  }
  return true;
}

}  // namespace clues
