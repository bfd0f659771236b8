// Hugging Face folders' config files (lib/model/hf_config.h): no LibTorch here, so the fuzz
// targets (tests/fuzz) build it.
#include "lib/model/hf_config.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/error.h"
#include "io/jsonl.h"

namespace fs = std::filesystem;

namespace clues {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& dir, const std::string& what) { throw InputError(dir + ": " + what); }

template <typename T>
T need(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) bad(where, std::string("config.json has no \"") + key + "\"");
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    bad(where, std::string("config.json: \"") + key + "\" has the wrong type");
  }
}

int64_t token_id(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  if (j[key].is_array()) return j[key].empty() ? -1 : j[key][0].get<int64_t>();
  return j[key].get<int64_t>();
}

}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  try {
    return json::parse(read_text(path));
  } catch (const json::exception& e) {
    throw InputError(path + ": not valid JSON (" + std::string(e.what()).substr(0, 200) + ")");
  }
}

namespace {
void read_hf_config_checked(ModelConfig& c);
}  // namespace

void read_hf_config(ModelConfig& c) {
  try {
    read_hf_config_checked(c);
  } catch (const json::exception& e) {  // a value of the wrong type, say
    throw InputError(c.dir + "/config.json: " + std::string(e.what()).substr(0, 200));
  }
}

namespace {
void read_hf_config_checked(ModelConfig& c) {
  const std::string& dir = c.dir;
  if (!fs::is_directory(dir)) bad(dir, "not a folder: --model takes a Hugging Face model folder (config.json, *.safetensors)");
  const auto path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path)) bad(dir, "no config.json: --model takes a Hugging Face model folder");
  const json j = read_json_file(path);
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    arch = j["architectures"][0].get<std::string>();
  static const std::map<std::string, Arch> known = {
      {"LlamaForCausalLM", Arch::kLlama}, {"MistralForCausalLM", Arch::kMistral}, {"Qwen2ForCausalLM", Arch::kQwen2}};
  if (!known.count(arch))
    bad(dir, "architecture \"" + arch + "\" is not supported; clues reads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM");
  c.arch = known.at(arch);
  const std::string act = j.value("hidden_act", std::string("silu"));
  if (act != "silu") bad(dir, "hidden_act \"" + act + "\" is not supported (silu only)");
  if (j.value("mlp_bias", false)) bad(dir, "mlp_bias=true is not supported");
  c.d_model = need<int64_t>(j, "hidden_size", dir);
  c.layers = need<int64_t>(j, "num_hidden_layers", dir);
  c.heads = need<int64_t>(j, "num_attention_heads", dir);
  c.kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null() ? j["num_key_value_heads"].get<int64_t>() : c.heads;
  c.hidden = need<int64_t>(j, "intermediate_size", dir);
  c.vocab = need<int64_t>(j, "vocab_size", dir);
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? j["head_dim"].get<int64_t>() : c.d_model / c.heads;
  c.norm_eps = j.value("rms_norm_eps", 1e-6);
  c.tied = j.value("tie_word_embeddings", false);
  c.rope_style = RopeStyle::kHalf;
  for (const auto& [key, v] : {std::pair<const char*, int64_t>{"hidden_size", c.d_model}, {"num_hidden_layers", c.layers},
                                {"intermediate_size", c.hidden}, {"vocab_size", c.vocab}, {"head_dim", c.head_dim}})
    if (v <= 0 || v > (int64_t{1} << 31)) bad(dir, std::string("config.json: ") + key + " must be a positive size, not " + std::to_string(v));
  if (c.heads <= 0 || c.kv_heads <= 0 || c.heads % c.kv_heads != 0)
    bad(dir, "num_attention_heads " + std::to_string(c.heads) + " is not a multiple of num_key_value_heads " + std::to_string(c.kv_heads));
  if (c.head_dim % 2 != 0) bad(dir, "head_dim must be even (rotary positions)");
  c.qkv_bias = c.arch == Arch::kQwen2 || j.value("attention_bias", false);
  c.o_bias = c.arch != Arch::kQwen2 && j.value("attention_bias", false);
  // Rotary settings: transformers 5 writes rope_parameters; older folders rope_theta and rope_scaling.
  json rope = j.contains("rope_parameters") && j["rope_parameters"].is_object() ? j["rope_parameters"] : json::object();
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rope.update(j["rope_scaling"]);
  c.rope_base = rope.contains("rope_theta") ? rope["rope_theta"].get<double>() : j.value("rope_theta", 10000.0);
  c.rope_type = rope.contains("rope_type") ? rope["rope_type"].get<std::string>() : rope.value("type", std::string("default"));
  if (c.rope_type != "default" && c.rope_type != "linear" && c.rope_type != "llama3")
    bad(dir, "rope scaling \"" + c.rope_type + "\" is not supported (default, linear, llama3)");
  c.rope_factor = rope.value("factor", 1.0);
  c.rope_low_freq_factor = rope.value("low_freq_factor", 1.0);
  c.rope_high_freq_factor = rope.value("high_freq_factor", 4.0);
  c.rope_original_max = rope.value("original_max_position_embeddings", int64_t{8192});
  const bool sliding = c.arch == Arch::kMistral || j.value("use_sliding_window", false);
  if (sliding && j.contains("sliding_window") && !j["sliding_window"].is_null() &&
      c.max_seq_len > j["sliding_window"].get<int64_t>())
    bad(dir, "model.max_seq_len " + std::to_string(c.max_seq_len) + " exceeds the model's sliding window of " +
                 std::to_string(j["sliding_window"].get<int64_t>()) + " tokens: clues attends to the whole sample, so "
                 "keep model.max_seq_len within the window");
  if (!(c.rope_base > 0) || !std::isfinite(c.rope_base) || !(c.rope_factor > 0) || !std::isfinite(c.rope_factor) ||
      (c.rope_type == "llama3" && !(c.rope_high_freq_factor > c.rope_low_freq_factor && c.rope_low_freq_factor > 0 &&
                                     c.rope_original_max > 0)))
    bad(dir, "config.json: rope theta and scaling factors must be positive (llama3: high_freq_factor > low_freq_factor)");
  c.bos_id = token_id(j, "bos_token_id");
  c.eos_id = token_id(j, "eos_token_id");
  c.pad_id = token_id(j, "pad_token_id");
  for (const auto* id : {&c.bos_id, &c.eos_id})
    if (*id >= c.vocab || *id < -1) bad(dir, "a special token id is outside vocab_size " + std::to_string(c.vocab));
}

}  // namespace

std::string describe_model(const ModelConfig& c) {
  return to_string(c.arch) + ", " + std::to_string(c.layers) + " layers, hidden " + std::to_string(c.d_model) + ", " +
         std::to_string(c.heads) + " heads (" + std::to_string(c.n_kv_heads()) + " key/value), head_dim " +
         std::to_string(c.n_head_dim()) + ", vocab " + std::to_string(c.vocab) + (c.tied ? ", tied embeddings" : "") +
         ", rope " + c.rope_type + ", weights in " + to_string(c.dtype);
}

void apply_model_folder(Config& cfg) {
  if (!cfg.model.dir.empty()) read_hf_config(cfg.model);
}

void read_peft_config(ModelConfig& c, const std::string& dir) {
  const auto path = (fs::path(dir) / "adapter_config.json").string();
  if (!fs::exists(path)) bad(dir, "no adapter_config.json: not a PEFT adapter folder");
  const json j = read_json_file(path);
  try {
    if (j.value("peft_type", std::string()) != "LORA") bad(dir, "peft_type is not LORA");
    if (j.value("use_dora", false) || j.value("use_rslora", false)) bad(dir, "DoRA and rsLoRA adapters are not read");
    c.finetune = Finetune::kLora;
    c.lora_rank = need<int64_t>(j, "r", dir);
    c.lora_alpha = need<double>(j, "lora_alpha", dir);
    if (c.lora_rank <= 0) bad(dir, "adapter_config.json: r must be positive");
    c.lora_targets.clear();
    if (!j.contains("target_modules") || !j["target_modules"].is_array()) bad(dir, "adapter_config.json: target_modules must be a list");
    for (const auto& t : j["target_modules"]) {
      std::string name = t.get<std::string>();
      if (name.size() > 5 && name.substr(name.size() - 5) == "_proj") name = name.substr(0, name.size() - 5);
      if (!std::set<std::string>{"q", "k", "v", "o", "gate", "up", "down"}.count(name))
        bad(dir, "adapter target module \"" + t.get<std::string>() + "\" is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
      c.lora_targets.push_back(name);
    }
  } catch (const json::exception& e) {
    throw InputError(path + ": " + std::string(e.what()).substr(0, 200));
  }
}

}  // namespace clues
