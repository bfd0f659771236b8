// Hugging Face folders' config files: config.json onto the model's settings, and a PEFT
// adapter's adapter_config.json onto its LoRA settings. Free of LibTorch (the weights are
// lib/model/hf_model.h's), so the parsers can be fuzzed (tests/fuzz).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "lib/config/config.h"

namespace clues {

// Fills the architecture of c (shape, heads, rotary settings, biases, tied embeddings,
// special tokens) from c.dir/config.json. Throws InputError naming the folder and what is
// missing or unsupported (architecture, activation, rope scaling, MLP bias, a context
// longer than Mistral's sliding window).
void read_hf_config(ModelConfig& c);

// One line on a folder's model: architecture, layers, width, heads, vocabulary, dtype.
std::string describe_model(const ModelConfig& c);

// When cfg.model.dir is set: read_hf_config. A no-op for the built-in model.
void apply_model_folder(Config& cfg);

// Sets c's LoRA settings (rank, alpha, targets) from a PEFT adapter folder's
// adapter_config.json, for a model that load_peft_adapter then fills.
void read_peft_config(ModelConfig& c, const std::string& dir);
// A JSON file, or InputError naming it.
nlohmann::json read_json_file(const std::string& path);

}  // namespace clues
