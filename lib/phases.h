// The phases of a clues run, in order, each a function of the run context (what was
// decided once) and the run (what earlier phases produced), in a file of its own:
//   base_model          lib/phases/base_model.cpp  the base: pretrained or loaded, saved to base.h5
//   warm_up             lib/phases/warmup.cpp      rounds of local training and averaging
//   score_checkpoints   lib/phases/scoring.cpp     every sample and anchor at every checkpoint
//   select_samples      lib/phases/selection.cpp   thresholds, selection, baselines' losses
//   compare_selections  lib/phases/comparison.cpp  fine-tune and evaluate each comparison row
//   final_model         lib/phases/final.cpp       with --model: the model fine-tuned on the
//                                                  selection, as a PEFT adapter or model folder
//   write_outputs       lib/phases/outputs.cpp     scores.h5, comparison.md, report.json last
// Each phase skips what it finds done in the output folder (resume) in one place, and
// asks io/ to write its files. Private samples never leave the rank hosting their silo:
// only weights, Adam moments, gradients of public data and scalar scores travel.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <vector>

#include "io/report.h"
#include "lib/checkpoint.h"
#include "lib/model.h"
#include "lib/run_context.h"
#include "lib/train.h"

namespace clues {

// What the phases compute for one silo this rank hosts.
struct HostedSilo {
  const SiloEntry* entry = nullptr;
  std::vector<double> score;         // CLUES score per sample (mean over checkpoints of lr·dot)
  std::vector<double> anchor_score;  // the anchors under this silo's own moments (select.anchor_moments=silo)
  std::vector<double> datainf;       // DataInf influence per sample (lower = more helpful), when that row runs
  double tau = 0;                    // the threshold this silo applies
  std::vector<uint8_t> selected;      // the run's selection (select.rank)
  std::vector<uint8_t> by_score;      // the paper's: score >= tau (the clues row; the baselines' sizes)
  std::vector<double> loss, ifd;     // under the warm-up's final model (perplexity and IFD baselines)
  std::vector<double> max_token_loss;  // diagnostics: the largest response-token loss, same model,
  std::vector<double> base_loss;       // and the mean response loss under the base (before the warm-up)
  std::vector<double> anchor_loss;     // the anchors' mean response losses under the warm-up's final model
  double test_loss = -1;             // of the warm-up's final model on --test
};

// Every silo's results gathered on rank 0 in silo order (other ranks: empty), for the
// comparison's figures and the report.
struct Gathered {
  std::vector<std::vector<double>> score, loss, ifd, datainf;
  std::vector<std::vector<uint8_t>> selected, labels;
  std::vector<double> test_loss;
};

struct RunState {
  Decoder model{nullptr};
  NamedTensors named;                 // trainable parameters by name
  std::vector<torch::Tensor> params;  // the same tensors
  int64_t P = 0;                      // trainable values
  torch::Tensor theta0;               // the base's trainable weights (flat): every fine-tuning starts here
  torch::Tensor theta;                // the warm-up's final global weights (fedavg)
  torch::Tensor final_theta;          // fine-tuned on the run's selection (its comparison row), if that row ran
  std::vector<HostedSilo> mine;       // this rank's silos, in silo order
  std::vector<double> anchor_score;   // rank 0: the anchor scores behind the threshold (server's, or every silo's pooled)
  std::vector<double> lrs;            // mean learning rate of each checkpoint
  bool with_datainf = false;          // every silo has its DataInf influences (that row runs)
  double tau = 0;                     // the global threshold
  std::vector<double> silo_tau;       // every rank: the threshold each silo applied
  Gathered all;
  RunSummary summary;
  std::vector<std::string> warnings;  // rank 0: what report.json and the log warn about

  HostedSilo& hosted(int64_t silo);
};

RunState base_model(RunContext& ctx);
void warm_up(RunContext& ctx, RunState& run);
void score_checkpoints(RunContext& ctx, RunState& run);
void select_samples(RunContext& ctx, RunState& run);
void compare_selections(RunContext& ctx, RunState& run);
void final_model(RunContext& ctx, RunState& run);

// Collaborative fine-tuning from the base (run.theta0) on a selection of every hosted silo
// (silo index -> kept flags), rounds and steps as the warm-up's, data order from `seed`,
// fresh Adam states parked under `phase`. Returns the final global weights (every rank):
// averaged every round (fedavg), or each silo trained alone and merged once (merge).
torch::Tensor train_on_selection(RunContext& ctx, RunState& run, const std::map<int64_t, std::vector<uint8_t>>& selection,
                                 uint64_t seed, const char* phase);
RunSummary write_outputs(RunContext& ctx, RunState& run);

// The target ḡ that silo `silo`'s samples are scored against, from the validation sets'
// gradients (ctx.validation order): the pooled one, or Σ_d w_d ḡ_d over the domains (w = 1
// for the silo's own domain, score.other_domains for the others).
torch::Tensor domain_target(const RunContext& ctx, const std::vector<torch::Tensor>& gbars, const std::string& silo);

// The final warm-up weights that silo `silo`'s samples are judged by: the global ones
// (fedavg), or the silo's own last checkpoint (merge). Loads them into run.params.
void load_warmup_model(RunContext& ctx, RunState& run, const SiloEntry& silo);

// What a silo's baselines rank by, under the warm-up's final model.
struct SiloSignals {
  const std::vector<double>& score;    // CLUES
  const std::vector<double>& loss;     // perplexity
  const std::vector<double>& ifd;      // IFD
  const std::vector<double>& datainf;  // DataInf influence (empty unless that row runs)
  const SelectConfig& select;          // select.loss_weight (the blend)
};
// The selection of comparison row `row` in one silo, from the CLUES scores and selection,
// the baselines' signals and the labels (oracle).
std::vector<uint8_t> row_selection(Row row, const SiloSignals& sig, const std::vector<uint8_t>& clues_selected,
                                   const std::vector<uint8_t>& labels, const Config& cfg, int64_t silo);
// The ranking behind a row's selection (higher = kept first); empty for rows without one.
std::vector<double> row_ranking(Row row, const SiloSignals& sig);
// Detection figures of a row per silo and pooled (pooled only when every silo has labels;
// pooled AUROC only when `ranked`). -1 where a figure is not defined (one class only).
void fill_detection(CompareRow& cr, const std::vector<std::vector<double>>& ranking,
                    const std::vector<std::vector<uint8_t>>& sel, const std::vector<std::vector<uint8_t>>& labels,
                    bool ranked);

}  // namespace clues
