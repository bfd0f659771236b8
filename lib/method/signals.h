// One silo's per-sample signals as named columns, one value per input line in input order:
// what the selection rules read (lib/method/rules.h), what scores.h5 writes under
// /silos/<name>/<column> and what rank 0 gathers for the comparison. A new signal is one
// more column: computed where its model is at hand, then written and gathered by name.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "io/error.h"

namespace clues {

// The columns every run computes (scores.h5 names), and the one computed when asked for.
namespace signal {
constexpr const char* kScore = "score";                  // CLUES: mean over checkpoints of lr·⟨Γ(g_i), ḡ⟩
constexpr const char* kWarmupLoss = "warmup_loss";       // mean response loss, the warm-up's final model
constexpr const char* kMaxTokenLoss = "max_token_loss";  // its largest response-token loss, same model
constexpr const char* kBaseLoss = "base_loss";           // mean response loss under the base (before the warm-up)
constexpr const char* kIfd = "ifd";                      // instruction-following difficulty, same model
constexpr const char* kDatainf = "datainf";              // DataInf influence (lower = more helpful), when a rule needs it
}  // namespace signal

class Signals {
 public:
  // The column `name`, added empty when new.
  std::vector<double>& operator[](const std::string& name) {
    for (auto& c : cols_)
      if (c.first == name) return c.second;
    cols_.emplace_back(name, std::vector<double>());
    return cols_.back().second;
  }
  bool has(const std::string& name) const {
    for (const auto& c : cols_)
      if (c.first == name) return true;
    return false;
  }
  // The column `name`; throws Error naming it when this silo has no such column.
  const std::vector<double>& at(const std::string& name) const {
    for (const auto& c : cols_)
      if (c.first == name) return c.second;
    throw Error("no per-sample signal \"" + name + "\" was computed for this silo");
  }
  const std::vector<std::pair<std::string, std::vector<double>>>& columns() const { return cols_; }

 private:
  std::vector<std::pair<std::string, std::vector<double>>> cols_;
};

}  // namespace clues
