// The phases of a clues run, in order, each a function in a file of its own that takes
// what it reads and returns what it makes (lib/run/pipeline.cpp shows the flow):
//   base_model          phases/base_model.cpp  the base: pretrained or loaded, saved to base.h5
//   warm_up             phases/warmup.cpp      rounds of collaborative training (the mode's)
//   score_checkpoints   phases/scoring.cpp     every sample and anchor at every checkpoint
//   select_samples      phases/selection.cpp   thresholds, the run's rule, signals, selected/
//   compare_selections  phases/comparison.cpp  fine-tune and evaluate each comparison row
//   final_model         phases/final.cpp       with --model: the model fine-tuned on the
//                                              selection, as a PEFT adapter or model folder
//   write_outputs       phases/outputs.cpp     scores.h5, comparison.md, report.json last
// Each phase skips what it finds done in the output folder (resume) in one place, asks io/
// to write its files, and calls the collaboration mode (lib/collab/) wherever fedavg and
// merge differ. Phases never call each other; what two of them share lives below (lib/
// method/, lib/collab/). Private samples never leave the rank hosting their silo.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/report.h"
#include "lib/collab/collaboration.h"
#include "lib/method/signals.h"
#include "lib/model/trainable.h"
#include "lib/run/run_context.h"

namespace clues {

// What the warm-up leaves besides its checkpoint files.
struct WarmUp {
  double last_loss = -1;              // the last round's sample-weighted training loss
  std::vector<std::string> warnings;  // what report.json and the log warn about
};

// The CLUES scores of one hosted silo.
struct SiloScores {
  int64_t silo = 0;
  std::vector<double> score;         // per sample: mean over checkpoints of lr·dot
  std::vector<double> anchor_score;  // the anchors under this silo's moments (select.anchor_moments=silo)
};
struct Scores {
  std::vector<SiloScores> mine;       // this rank's silos, in silo order
  std::vector<double> server_anchor;  // rank 0: the anchors under the server's moments (anchor_moments=server)
  std::vector<double> lrs;            // mean learning rate of each checkpoint
};

// One hosted silo's selection and the signals behind it.
struct SiloSelection {
  int64_t silo = 0;
  double tau = 0;                     // the threshold this silo applied
  Signals signals;                    // score, losses, IFD, ... (lib/method/signals.h)
  std::vector<double> anchor_loss;    // the anchors' losses under the silo's warm-up model
  std::vector<uint8_t> by_score;      // the paper's: score >= tau (sets the count rules' k)
  std::vector<uint8_t> selected;      // the run's (select.rank)
  double test_loss = -1;              // of the warm-up's final model on --test
};
struct Selection {
  std::vector<SiloSelection> mine;
  double tau = 0;                     // the global threshold (NaN: one per silo)
  std::vector<double> silo_tau;       // every rank: each silo's threshold
  std::vector<double> anchor_score;   // rank 0: the anchor scores behind the threshold
  std::vector<std::string> columns;   // the signal columns every silo has (scores.h5)
  // Rank 0, every silo in silo order (others: empty): what the comparison and report use.
  std::vector<Signals> signals;
  std::vector<std::vector<uint8_t>> by_score, selected, labels;
  std::vector<double> test_loss;
};

// The comparison's rows (rank 0) and the run's own fine-tuned model, when its row ran.
struct Comparison {
  std::vector<CompareRow> rows;
  torch::Tensor final_theta;
};

Trainable base_model(RunContext& ctx);
WarmUp warm_up(RunContext& ctx, Collaboration& collab);
Scores score_checkpoints(RunContext& ctx, Trainable& m, Collaboration& collab);
Selection select_samples(RunContext& ctx, Trainable& m, Collaboration& collab, Scores scores);
Comparison compare_selections(RunContext& ctx, Trainable& m, Collaboration& collab, const Selection& sel);
void final_model(RunContext& ctx, Trainable& m, Collaboration& collab, const Selection& sel, const Comparison& cmp);
RunSummary write_outputs(RunContext& ctx, const Trainable& m, const Scores& scores, const Selection& sel,
                         const Comparison& cmp, const WarmUp& warm);

}  // namespace clues
