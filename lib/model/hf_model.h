// Hugging Face model folders of the LLaMA family (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM): config.json onto the model's settings, safetensors weights (one file
// or shards with their index, memory-mapped and copied one tensor at a time) onto the
// model, and the outputs a user loads back in Python: a PEFT LoRA adapter folder, or
// (full fine-tuning) a model folder.
#pragma once

#include <string>
#include <vector>

#include "lib/config/config.h"
#include "lib/model/hf_config.h"
#include "lib/model/model.h"

namespace clues {

// The Hugging Face name of one of the model's base parameters ("blocks.0.q.weight" ->
// "model.layers.0.self_attn.q_proj.weight"); empty for LoRA weights.
std::string hf_name(const std::string& name);

// Checks the folder's weight files without loading them: the shard index names only shards
// that exist, and every file's header fits the file (a truncated or broken file is found
// here, before a run touches its output folder). Throws InputError naming the file.
void check_hf_weight_files(const std::string& dir);

// Copies every base weight of the folder into `model` (converted to its dtype). Throws
// InputError naming missing, unexpected or mis-shaped tensors and the file they are in.
void load_hf_weights(Decoder& model, const std::string& dir);

// A PEFT adapter folder (adapter_config.json, adapter_model.safetensors with PEFT's tensor
// names) of the model's LoRA weights, for PeftModel.from_pretrained(base, dir).
void write_peft_adapter(Decoder& model, const std::string& dir);

// Copies a PEFT adapter's LoRA weights into the model (its LoRA layout must match).
void load_peft_adapter(Decoder& model, const std::string& dir);

// Merges PEFT LoRA adapter folders of one base into one adapter folder `out`, as PEFT's
// add_weighted_adapter(adapters, weights, combination_type) does (lib/model/merge.h; method
// task_arithmetic is PEFT's "svd"): every adapter must have the same rank and tensors;
// each keeps its own scaling lora_alpha/r, and the merged one has lora_alpha = r.
void merge_peft_adapters(const std::vector<std::string>& dirs, const std::vector<double>& weights, MergeMethod method,
                         double density, const std::string& out);

// Per-sample gradients [n, P] (trainable() order, LoRA only) as a safetensors file with one
// [n, ...] tensor per LoRA weight under PEFT's names (for comparison with PyTorch's autograd).
void write_peft_gradients(Decoder& model, const torch::Tensor& grads, const std::string& path);

// A model folder with the model's weights (full fine-tuning): model.safetensors in the
// model's dtype with Hugging Face's names, and the base folder's config and tokenizer files.
void write_hf_folder(Decoder& model, const std::string& dir);

}  // namespace clues
