// Where every file of a run lives under its output folder (docs/outputs.md). lib/ asks for a
// path by what it holds; only this file knows the names.
//   OUT/.clues-run         written first: marks the folder as a run of clues (--overwrite
//                          clears no folder without it, or without run_config.ini)
//   OUT/report.json        written last: its presence means the run finished
//   OUT/scores.h5          scores, selections and thresholds (io/scores_file.h)
//   OUT/run_config.ini     the resolved configuration the run started with
//   OUT/run_inputs.json    its settings and input files by content, compared on --resume
//   OUT/comparison.md      the comparison table, when a comparison ran
//   OUT/selected/<silo>.jsonl   the kept input lines, byte for byte
//   OUT/features/<set>_round_NNN.h5   projected gradient features (score.project_dim)
//   OUT/adapter/           with --model and LoRA: the PEFT adapter fine-tuned on the selection
//   OUT/model/             with --model and full fine-tuning: the model folder fine-tuned on it
//   OUT/checkpoints/       what a killed run resumes from:
//     base.h5                     every parameter of the base model
//     round_NNN.h5                global weights, server-averaged moments, lr of round NNN (fedavg)
//     round_NNN_silo_<silo>.h5    one silo's own Adam moments and lr after round NNN (merge: and
//                                 its own weights)
//     dots_round_NNN_<set>.bin    scoring journal of one set at checkpoint NNN
//     state_<phase>_<silo>.bin    a hosted silo's parked training state (io/state_file.h)
//     compare_<row>.json          a finished comparison row (io/report.h)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clues {

class RunLayout {
 public:
  explicit RunLayout(std::string out) : out_(std::move(out)) {}
  const std::string& out() const { return out_; }

  std::string marker() const { return out_ + "/.clues-run"; }
  std::string report() const { return out_ + "/report.json"; }
  std::string scores() const { return out_ + "/scores.h5"; }
  std::string run_config() const { return out_ + "/run_config.ini"; }
  std::string run_inputs() const { return out_ + "/run_inputs.json"; }
  std::string comparison_md() const { return out_ + "/comparison.md"; }
  std::string selected_dir() const { return out_ + "/selected"; }
  std::string selected(const std::string& silo) const { return selected_dir() + "/" + silo + ".jsonl"; }
  std::string features_dir() const { return out_ + "/features"; }
  std::string features(const std::string& set, int64_t round) const;
  std::string adapter_dir() const { return out_ + "/adapter"; }
  std::string model_dir() const { return out_ + "/model"; }

  std::string checkpoints() const { return out_ + "/checkpoints"; }
  std::string base() const { return checkpoints() + "/base.h5"; }
  std::string round(int64_t round) const;
  std::string silo_moments(int64_t round, const std::string& silo) const;
  std::string dots_journal(int64_t round, const std::string& set) const;
  std::string silo_state(const std::string& phase, const std::string& silo) const;
  std::string compare_row(const std::string& row) const { return checkpoints() + "/compare_" + row + ".json"; }

  // Removes a silo's state file of one phase, with any temporary a killed write left.
  void remove_silo_state(const std::string& phase, const std::string& silo) const;
  // Every entry of OUT that a run writes (what --overwrite removes), relative to OUT.
  static const std::vector<std::string>& entries();
  // True when OUT holds a run of clues: its marker, or run_config.ini (a run of a clues
  // older than the marker).
  bool is_run() const;
  // Writes the marker (OUT must exist).
  void mark() const;
  // Removes every entry a run writes, and the temporaries a killed write left beside them;
  // nothing else in OUT. Throws IoError when something cannot be removed.
  void clear() const;

 private:
  std::string out_;
};

}  // namespace clues
