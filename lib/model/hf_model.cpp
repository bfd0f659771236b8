// Hugging Face model folders (lib/model/hf_model.h).
#include "lib/model/hf_model.h"

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "io/error.h"
#include "io/files.h"
#include "io/jsonl.h"
#include "io/safetensors.h"
#include "lib/model/merge.h"

namespace fs = std::filesystem;

namespace clues {

namespace {

using json = nlohmann::json;
using clues::read_json_file;

[[noreturn]] void bad(const std::string& dir, const std::string& what) { throw InputError(dir + ": " + what); }

torch::ScalarType torch_dtype(const std::string& st, const std::string& where) {
  if (st == "F32") return torch::kFloat32;
  if (st == "F16") return torch::kFloat16;
  if (st == "BF16") return torch::kBFloat16;
  if (st == "F64") return torch::kFloat64;
  throw InputError(where + ": weights of dtype " + st + " are not read (F32, F16, BF16, F64)");
}

std::string st_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kFloat64: return "F64";
    default: throw Error("no safetensors dtype for this tensor");
  }
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string first_few(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < 5; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > 5) out += " and " + std::to_string(v.size() - 5) + " more";
  return out;
}

const std::map<std::string, std::string>& projection_names() {
  static const std::map<std::string, std::string> m = {
      {"q", "self_attn.q_proj"}, {"k", "self_attn.k_proj"}, {"v", "self_attn.v_proj"}, {"o", "self_attn.o_proj"},
      {"gate", "mlp.gate_proj"}, {"up", "mlp.up_proj"},      {"down", "mlp.down_proj"},
      {"attn_norm", "input_layernorm"}, {"mlp_norm", "post_attention_layernorm"}};
  return m;
}

// "blocks.3.q" -> "model.layers.3.self_attn.q_proj" (module path without the tensor name).
std::string hf_module(const std::string& module) {
  if (module == "embed") return "model.embed_tokens";
  if (module == "norm") return "model.norm";
  if (module == "head") return "lm_head";
  const std::string prefix = "blocks.";
  if (module.compare(0, prefix.size(), prefix) != 0) return "";
  const auto dot = module.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return "";
  const std::string layer = module.substr(prefix.size(), dot - prefix.size());
  if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
  auto it = projection_names().find(module.substr(dot + 1));
  return it == projection_names().end() ? "" : "model.layers." + layer + "." + it->second;
}

// PEFT's name of one of the model's LoRA weights: "blocks.0.q.lora_A" ->
// "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".
std::string peft_name(const std::string& lora_param) {
  const auto pos = lora_param.find(".lora_");
  return "base_model.model." + hf_module(lora_param.substr(0, pos)) + "." + lora_param.substr(pos + 1) + ".weight";
}

// The files holding the weights: the shard index's, or model.safetensors.
std::map<std::string, std::string> weight_files(const std::string& dir) {
  std::map<std::string, std::string> where;  // tensor -> file
  const auto index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const json j = read_json_file(index.string());
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) bad(index.string(), "no \"weight_map\" object");
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      const auto file = (fs::path(dir) / it->get<std::string>()).string();
      if (!fs::exists(file)) bad(dir, "the shard " + it->get<std::string>() + " named in model.safetensors.index.json is missing");
      where[it.key()] = file;
    }
    return where;
  }
  const auto single = fs::path(dir) / "model.safetensors";
  if (!fs::exists(single))
    bad(dir, "no model.safetensors or model.safetensors.index.json (PyTorch .bin weights are not read: save the "
             "model with save_pretrained(dir, safe_serialization=True))");
  SafetensorsFile f(single.string());
  for (const auto& n : f.names()) where[n] = single.string();
  return where;
}

}  // namespace

std::string hf_name(const std::string& name) {
  if (name.find("lora_") != std::string::npos) return "";
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return "";
  const auto module = hf_module(name.substr(0, dot));
  return module.empty() ? "" : module + name.substr(dot);
}

void check_hf_weight_files(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& [name, file] : weight_files(dir)) files.insert(file);
  for (const auto& f : files) SafetensorsFile check(f);  // maps the file and checks its header against its size
}

void load_hf_weights(Decoder& model, const std::string& dir) {
  const auto where = weight_files(dir);
  std::map<std::string, torch::Tensor> targets;  // hf name -> parameter
  for (const auto& p : model->named_parameters(true)) {
    const auto n = hf_name(p.key());
    if (!n.empty()) targets[n] = p.value();
  }
  std::vector<std::string> missing, unexpected;
  for (const auto& [n, t] : targets)
    if (!where.count(n)) missing.push_back(n);
  for (const auto& [n, f] : where) {
    if (targets.count(n)) continue;
    if (n.find("rotary_emb.inv_freq") != std::string::npos) continue;   // older folders store it; recomputed
    if (n == "lm_head.weight" && model->config().tied) continue;        // tied: the embedding is the head
    unexpected.push_back(n);
  }
  if (!missing.empty()) bad(dir, "missing tensors: " + first_few(missing));
  if (!unexpected.empty())
    bad(dir, "unexpected tensors (not part of a " + to_string(model->config().arch) + " model as config.json describes it): " + first_few(unexpected));
  std::map<std::string, std::vector<std::string>> by_file;
  for (const auto& [n, t] : targets) by_file[where.at(n)].push_back(n);
  torch::NoGradGuard ng;
  for (const auto& [file, names] : by_file) {
    SafetensorsFile f(file);
    for (const auto& n : names) {
      const auto v = f.get(n);
      auto& p = targets.at(n);
      if (v.shape != p.sizes().vec())
        bad(dir, n + " in " + fs::path(file).filename().string() + " has shape " + shape_text(v.shape) + ", the model needs " +
                     shape_text(p.sizes().vec()) + " (does config.json belong to these weights?)");
      const auto src = torch::from_blob(const_cast<void*>(v.data), v.shape, torch::TensorOptions().dtype(torch_dtype(v.dtype, file)));
      p.copy_(src);
      f.release(n);
    }
  }
}

void write_peft_adapter(Decoder& model, const std::string& dir) {
  const ModelConfig& c = model->config();
  make_dirs(dir);
  std::vector<torch::Tensor> keep;  // contiguous float32 copies, alive until written
  std::vector<SafeTensorOut> out;
  std::set<std::string> modules;
  for (const auto& p : model->named_parameters(true)) {
    const std::string& n = p.key();
    const auto pos = n.find(".lora_");
    if (pos == std::string::npos) continue;
    const std::string hf = hf_module(n.substr(0, pos));  // blocks.0.q -> model.layers.0.self_attn.q_proj
    modules.insert(hf.substr(hf.rfind('.') + 1));
    keep.push_back(p.value().detach().to(torch::kCPU, torch::kFloat32).contiguous());
    out.push_back({peft_name(n), "F32", keep.back().sizes().vec(), keep.back().data_ptr(),
                   static_cast<size_t>(keep.back().numel()) * 4});
  }
  if (out.empty()) throw InputError("the model has no LoRA weights to write as an adapter (model.finetune=full writes a model folder)");
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), out, {{"format", "pt"}});
  json cfg = {{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", fs::absolute(c.dir).lexically_normal().string()},
              {"r", c.lora_rank},
              {"lora_alpha", c.lora_alpha},
              {"lora_dropout", c.lora_dropout},
              {"target_modules", std::vector<std::string>(modules.begin(), modules.end())},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"inference_mode", true},
              {"use_rslora", false},
              {"use_dora", false},
              {"modules_to_save", nullptr}};
  write_text_atomic((fs::path(dir) / "adapter_config.json").string(), cfg.dump(2) + "\n");
}

void load_peft_adapter(Decoder& model, const std::string& dir) {
  SafetensorsFile f((fs::path(dir) / "adapter_model.safetensors").string());
  torch::NoGradGuard ng;
  std::set<std::string> used;
  for (const auto& p : model->named_parameters(true)) {
    const std::string& n = p.key();
    const auto pos = n.find(".lora_");
    if (pos == std::string::npos) continue;
    const std::string name = peft_name(n);
    const auto v = f.get(name);
    if (v.shape != p.value().sizes().vec())
      bad(dir, name + " has shape " + shape_text(v.shape) + ", the model needs " + shape_text(p.value().sizes().vec()));
    p.value().copy_(torch::from_blob(const_cast<void*>(v.data), v.shape, torch::TensorOptions().dtype(torch_dtype(v.dtype, f.path()))));
    used.insert(name);
  }
  std::vector<std::string> extra;
  for (const auto& n : f.names())
    if (!used.count(n)) extra.push_back(n);
  if (!extra.empty()) bad(dir, "adapter tensors the model has no place for: " + first_few(extra));
}

void write_peft_gradients(Decoder& model, const torch::Tensor& grads, const std::string& path) {
  const auto params = model->trainable_tensors();
  const auto g = grads.to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<torch::Tensor> keep;
  std::vector<SafeTensorOut> out;
  int64_t off = 0;
  for (const auto& [n, p] : model->trainable()) {
    const auto pos = n.find(".lora_");
    if (pos == std::string::npos) throw InputError("gradients are written for LoRA weights only (" + n + ")");
    std::vector<int64_t> shape = {g.size(0)};
    for (auto d : p.sizes()) shape.push_back(d);
    keep.push_back(g.slice(1, off, off + p.numel()).contiguous());
    off += p.numel();
    out.push_back({peft_name(n), "F32", shape,
                   keep.back().data_ptr(), static_cast<size_t>(keep.back().numel()) * 4});
  }
  write_safetensors(path, out);
}

void write_hf_folder(Decoder& model, const std::string& dir) {
  const ModelConfig& c = model->config();
  make_dirs(dir);
  std::vector<torch::Tensor> keep;
  std::vector<SafeTensorOut> out;
  keep.reserve(model->named_parameters(true).size());
  for (const auto& p : model->named_parameters(true)) {
    const auto n = hf_name(p.key());
    if (n.empty()) continue;
    keep.push_back(p.value().detach().cpu().contiguous());
    out.push_back({n, st_dtype(keep.back().scalar_type()), keep.back().sizes().vec(), keep.back().data_ptr(),
                   static_cast<size_t>(keep.back().numel() * keep.back().element_size())});
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json"}) {
    const auto src = fs::path(c.dir) / f;
    if (fs::exists(src)) write_text_atomic((fs::path(dir) / f).string(), read_text(src.string()));
  }
}

namespace {
// Adapters naming different base models (adapter_config.json's base_model_name_or_path,
// by its last part: one model reached by two paths is one model) are not merged; an
// adapter that names none is taken as of the same one.
void check_same_base(const std::vector<std::string>& dirs) {
  std::string first, first_dir;
  auto last_part = [](std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s.substr(s.find_last_of('/') == std::string::npos ? 0 : s.find_last_of('/') + 1);
  };
  for (const auto& d : dirs) {
    const json j = read_json_file((fs::path(d) / "adapter_config.json").string());
    const auto it = j.find("base_model_name_or_path");
    if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) continue;
    if (first.empty()) {
      first = it->get<std::string>(), first_dir = d;
    } else if (last_part(it->get<std::string>()) != last_part(first)) {
      bad(d, "is an adapter of the base model \"" + it->get<std::string>() + "\", " + first_dir + " one of \"" + first +
                 "\": adapters of one base model only");
    }
  }
}
}  // namespace

void merge_peft_adapters(const std::vector<std::string>& dirs, const std::vector<double>& weights, MergeMethod method,
                         double density, const std::string& out) {
  if (dirs.empty()) throw InputError("merge: no adapter folders given");
  if (weights.size() != dirs.size())
    throw InputError("merge: " + std::to_string(dirs.size()) + " adapters but " + std::to_string(weights.size()) + " weights");
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::vector<double> scaling;
  int64_t rank = 0;
  for (const auto& d : dirs) {
    ModelConfig c;
    read_peft_config(c, d);
    if (rank != 0 && c.lora_rank != rank)
      bad(d, "rank " + std::to_string(c.lora_rank) + " differs from the first adapter's " + std::to_string(rank) +
                 ": these merges need adapters of one rank");
    rank = c.lora_rank;
    scaling.push_back(c.lora_alpha / static_cast<double>(c.lora_rank));
    files.push_back(std::make_unique<SafetensorsFile>((fs::path(d) / "adapter_model.safetensors").string()));
  }
  const auto names = files[0]->names();
  for (size_t j = 1; j < files.size(); ++j) {
    if (files[j]->names() != names) bad(dirs[j], "holds other tensors than " + dirs[0] + ": adapters of one layout only");
    for (const auto& n : names)
      if (files[j]->get(n).shape != files[0]->get(n).shape)
        bad(dirs[j], n + " has shape " + shape_text(files[j]->get(n).shape) + ", in " + dirs[0] + " " +
                         shape_text(files[0]->get(n).shape) + ": adapters of one base model (one hidden size) only");
  }
  check_same_base(dirs);
  auto load = [&](size_t j, const std::string& name) {
    const auto v = files[j]->get(name);
    return torch::from_blob(const_cast<void*>(v.data), v.shape, torch::TensorOptions().dtype(torch_dtype(v.dtype, files[j]->path())))
        .to(torch::kFloat32);
  };
  std::vector<torch::Tensor> keep;
  std::vector<SafeTensorOut> tensors;
  torch::NoGradGuard ng;
  for (const auto& a : names) {
    const auto pos = a.find(".lora_A.");
    if (pos == std::string::npos) continue;
    const std::string b = a.substr(0, pos) + ".lora_B." + a.substr(pos + 8);
    if (!files[0]->has(b)) bad(dirs[0], a + " has no " + b);
    std::vector<torch::Tensor> As, Bs;
    for (size_t j = 0; j < files.size(); ++j) {
      As.push_back(load(j, a));
      Bs.push_back(load(j, b));
    }
    auto [A, B] = merge_lora(method, As, Bs, scaling, weights, density);
    for (auto& [n, t] : {std::pair<std::string, torch::Tensor>{a, A}, {b, B}}) {
      keep.push_back(t.contiguous());
      tensors.push_back({n, "F32", keep.back().sizes().vec(), keep.back().data_ptr(), static_cast<size_t>(keep.back().numel()) * 4});
    }
  }
  if (tensors.empty()) bad(dirs[0], "no lora_A/lora_B tensors to merge");
  if (tensors.size() != names.size()) bad(dirs[0], "holds tensors other than LoRA A/B pairs; they are not merged");
  make_dirs(out);
  write_safetensors((fs::path(out) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  json cfg = read_json_file((fs::path(dirs[0]) / "adapter_config.json").string());
  cfg["lora_alpha"] = rank;
  cfg["r"] = rank;
  write_text_atomic((fs::path(out) / "adapter_config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace clues
