// The base model (users start from a pretrained LLM). With --pretrain, rank 0
// trains every weight of a fresh model on the public corpus, saves the result under
// pretrain.cache/base_<key>.h5 (key: a hash of the corpus bytes and every setting the
// result depends on) and later runs with the same corpus and settings load it instead.
// Every rank ends with the same base weights; LoRA adapters, if any, keep their init.
#pragma once

#include <string>
#include <vector>

#include "lib/dist/comm.h"
#include "lib/config/config.h"
#include "lib/model/model.h"

namespace clues {

// JSONL files (".jsonl": instruction format, loss on the response) and plain text (one
// sample per non-empty line, loss on the whole line), in order.
std::vector<Encoded> read_corpus(const std::vector<std::string>& paths, int64_t max_len);

// 16 hex digits identifying the pretrained base of this configuration.
std::string pretrain_key(const Config& cfg);
// The seed the base is pretrained with: pretrain.seed, or the run's seed when it is -1.
uint64_t pretrain_seed(const Config& cfg);
std::string pretrain_file(const Config& cfg);

// No-op without a corpus. Otherwise loads (or first trains and caches) the base and
// copies it into `model`'s base weights on every rank.
// Pretraining itself runs on `device`; `model` is left where it is.
void pretrain_base(const Config& cfg, const Comm& comm, Decoder& model, const torch::Device& device = torch::kCPU);

}  // namespace clues
