// `clues loss` and `clues tokenize` (apps/inspect.h).
#include "apps/inspect.h"

#include <torch/torch.h>

#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <iostream>

#include "io/error.h"
#include "io/jsonl.h"
#include "lib/method/engines.h"
#include "lib/method/evaluate.h"
#include "lib/model/hf_model.h"
#include "lib/model/model.h"
#include "lib/method/score.h"
#include "lib/model/tokenizer.h"

namespace po = boost::program_options;

namespace clues {

namespace {

struct InspectOptions {
  Config cfg;
  std::string data;
  bool raw = false;
  int64_t batch = 8;
  std::string adapter;
  std::string grads;          // loss: also write per-sample LoRA gradients here
  std::string engine = "batched";
};

// Parses the shared options; false when --help was printed.
bool parse(const char* name, const char* what, const std::vector<std::string>& args, InspectOptions& o) {
  po::options_description d(std::string("clues ") + name + ": " + what);
  std::string dtype = "float32", prompt = "auto", loss_on = "response";
  d.add_options()("help,h", "print this help")
      ("model", po::value(&o.cfg.model.dir)->required(), "Hugging Face model folder (config.json, *.safetensors, tokenizer.model)")
      ("data", po::value(&o.data)->required(), "JSONL samples (instruction/input/output, or input_ids); with --raw, plain text lines")
      ("adapter", po::value(&o.adapter), "a PEFT LoRA adapter folder on top of the model (e.g. a run's OUT/adapter)")
      ("grads", po::value(&o.grads), "also write each sample's gradient of its loss w.r.t. the LoRA weights (needs --adapter) "
                                      "to this safetensors file: one [n, ...] tensor per LoRA weight, PEFT's names")
      ("engine", po::value(&o.engine)->default_value(o.engine), "per-sample gradient engine for --grads: batched | loop")
      ("raw", po::bool_switch(&o.raw), "each line is plain text: <BOS>{line}, the loss over every token after BOS")
      ("model.dtype", po::value(&dtype)->default_value(dtype), "float32 | bfloat16 | float16")
      ("model.prompt", po::value(&prompt)->default_value(prompt), "auto (alpaca) | plain | alpaca")
      ("model.loss_on", po::value(&loss_on)->default_value(loss_on), "response | sequence")
      ("model.max_seq_len", po::value(&o.cfg.model.max_seq_len)->default_value(4096), "tokens per sample; longer ones are cut (and counted on stderr)")
      ("model.attention", po::value<std::string>()->default_value("sdpa"), "sdpa | manual")
      ("batch", po::value(&o.batch)->default_value(o.batch), "samples per forward pass")
      ("threads", po::value(&o.cfg.threads)->default_value(1), "LibTorch threads");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(d).run(), vm);
    if (vm.count("help")) {
      std::cout << d;
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (clues " + name + " --help lists the options)");
  }
  o.cfg.model.dtype = parse_choice<DType>("model.dtype", dtype);
  o.cfg.model.prompt = parse_choice<Template>("model.prompt", prompt);
  o.cfg.model.loss_on = parse_choice<LossOn>("model.loss_on", loss_on);
  o.cfg.model.attention = parse_choice<Attention>("model.attention", vm["model.attention"].as<std::string>());
  if (o.batch < 1) throw InputError("--batch must be at least 1");
  if (o.cfg.model.max_seq_len < 2) throw InputError("--model.max_seq_len must be at least 2");
  if (!o.grads.empty() && o.adapter.empty()) throw InputError("--grads needs --adapter: the gradients are the LoRA weights'");
  if (o.engine != "batched" && o.engine != "loop") throw InputError("--engine must be batched or loop");
  if (o.cfg.threads < 1) throw InputError("--threads must be at least 1");
  read_hf_config(o.cfg.model);
  if (o.adapter.empty()) o.cfg.model.finetune = Finetune::kFull;  // no LoRA weights: the base alone
  else read_peft_config(o.cfg.model, o.adapter);
  torch::set_num_threads(o.cfg.threads);
  return true;
}

std::vector<Encoded> encode_file(const InspectOptions& o, const Tokenizer& tok) {
  std::vector<Encoded> out;
  int64_t cut = 0;
  if (o.raw) {
    for (const auto& line : read_lines(o.data)) out.push_back(encode_text(tok, line, o.cfg.model.max_seq_len));
  } else {
    for (const auto& r : read_jsonl(o.data)) out.push_back(encode_sample(tok, r, sample_format(o.cfg.model)));
  }
  for (const auto& e : out) cut += e.truncated;
  if (cut) std::cerr << "clues: " << cut << " samples longer than " << o.cfg.model.max_seq_len << " tokens were cut\n";
  return out;
}

}  // namespace

int run_loss_command(const std::vector<std::string>& args) {
  InspectOptions o;
  if (!parse("loss", "the mean loss of each sample under a model folder, one number per line", args, o)) return 0;
  const auto tok = make_tokenizer(o.cfg.model);
  const auto data = encode_file(o, *tok);
  Decoder model = make_model(o.cfg.model, 0);
  load_hf_weights(model, o.cfg.model.dir);
  if (!o.adapter.empty()) load_peft_adapter(model, o.adapter);
  model->eval();
  for (double l : sample_losses(model, data, o.batch)) std::printf("%.9g\n", l);
  if (!o.grads.empty()) {
    std::vector<torch::Tensor> rows;
    if (o.engine == "loop") {
      for (const auto& e : data) rows.push_back(sample_grad(model, e));
    } else {
      int64_t longest = 1;
      for (const auto& e : data) longest = std::max<int64_t>(longest, static_cast<int64_t>(e.ids.size()));
      for (size_t i = 0; i < data.size(); ++i) rows.push_back(batched_grads(model, {&data[i]}, longest).squeeze(0));
    }
    write_peft_gradients(model, torch::stack(rows), o.grads);
  }
  return 0;
}

int run_tokenize_command(const std::vector<std::string>& args) {
  InspectOptions o;
  if (!parse("tokenize", "the token ids of each sample under a model folder's tokenizer, one line each", args, o)) return 0;
  const auto tok = make_tokenizer(o.cfg.model);
  for (const auto& e : encode_file(o, *tok)) {
    std::string line;
    for (size_t t = 0; t < e.ids.size(); ++t) {
      if (!o.raw && static_cast<int64_t>(t) == e.response_start) line += "| ";
      line += std::to_string(e.ids[t]) + (t + 1 < e.ids.size() ? " " : "");
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

namespace {
// --out of clues merge: a folder that is none of the adapters (nor inside one, nor holds
// one), and holds no adapter unless --overwrite says to replace it.
void check_merge_out(const std::string& out, const std::vector<std::string>& dirs, bool overwrite) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw InputError("--out " + out + " is a file, not a folder: give the folder the merged adapter is written to");
  auto canon = [](const std::string& p) {
    std::error_code e;
    auto c = fs::weakly_canonical(p, e);
    return (e ? fs::absolute(p) : c).lexically_normal().string() + "/";
  };
  for (const auto& d : dirs) {
    const std::string a = canon(out), b = canon(d);
    if (a.rfind(b, 0) == 0 || b.rfind(a, 0) == 0)
      throw InputError("--out " + out + " is, holds or lies inside the adapter " + d +
                       " being merged, which the merge would overwrite: choose a folder of its own");
  }
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
    if (!overwrite && fs::exists(fs::path(out) / f))
      throw InputError("--out " + out + " already holds an adapter (" + f + "): pass --overwrite to replace it, or "
                       "choose another folder");
}
}  // namespace

int run_merge_command(const std::vector<std::string>& args) {
  po::options_description d(
      "clues merge: merge PEFT LoRA adapters of one base into one, as PEFT's add_weighted_adapter does\n"
      "usage: clues merge --out DIR [--method ties] [--density 0.2] [--weights 1,1,...] ADAPTER_DIR...");
  std::string out, method = "ties", weights;
  double density = 0.2;
  bool overwrite = false;
  std::vector<std::string> dirs;
  d.add_options()("help,h", "print this help")
      ("out", po::value(&out)->required(), "folder of the merged adapter (adapter_config.json, adapter_model.safetensors)")
      ("overwrite", po::bool_switch(&overwrite), "replace an adapter that --out already holds")
      ("method", po::value(&method)->default_value(method), "ties | linear | task_arithmetic (PEFT's ties, linear, svd)")
      ("density", po::value(&density)->default_value(density, "0.2"), "ties: share of each task tensor kept")
      ("weights", po::value(&weights), "one weight per adapter, comma-separated (default: 1 each)")
      ("adapters", po::value(&dirs)->multitoken(), "adapter folders (also given positionally)");
  po::positional_options_description pos;
  pos.add("adapters", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(d).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << d;
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (clues merge --help lists the options)");
  }
  const auto m = parse_choice<MergeMethod>("--method", method);
  if (!(density > 0 && density <= 1)) throw InputError("--density must be in (0, 1]");
  std::vector<double> w;
  if (weights.empty()) {
    w.assign(dirs.size(), 1.0);
  } else {
    std::stringstream ss(weights);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const double x = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0' || !std::isfinite(x)) throw InputError("--weights: \"" + item + "\" is not a number");
      w.push_back(x);
    }
  }
  check_merge_out(out, dirs, overwrite);
  try {
    merge_peft_adapters(dirs, w, m, density, out);
  } catch (const c10::Error& e) {
    throw Error(std::string("LibTorch: ") + e.what_without_backtrace());
  }
  std::cerr << "merged " << dirs.size() << " adapters (" << method << ") into " << out << "\n";
  return 0;
}

}  // namespace clues
