// `clues loss` and `clues tokenize`: single-process tools for looking at data through a
// model folder's tokenizer and weights (apps/inspect.cpp).
#pragma once

#include <string>
#include <vector>

namespace clues {

// clues loss --model DIR --data FILE [--raw]: the mean loss of each sample, one per line.
int run_loss_command(const std::vector<std::string>& args);
// clues tokenize --model DIR --data FILE [--raw]: each sample's token ids, one line each
// (the response start as "| " before the first response token, unless --raw).
int run_tokenize_command(const std::vector<std::string>& args);

// clues merge --out DIR [--method ties|linear|task_arithmetic] [--density D] [--weights ...]
// ADAPTER...: one PEFT adapter merged from several (lib/model/hf_model.h merge_peft_adapters).
int run_merge_command(const std::vector<std::string>& args);

}  // namespace clues
