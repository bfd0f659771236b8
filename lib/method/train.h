// Local training of one silo (AdamW with warm-up then linear decay) and the federated
// averaging of trainable weights and Adam moments, weighted by sample count.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/dist/comm.h"
#include "lib/config/config.h"
#include "lib/model/model.h"

namespace clues {

// A silo's own AdamW state over the trainable parameters (raw, not bias-corrected).
struct AdamState {
  std::vector<torch::Tensor> m, v;
  int64_t step = 0;
  static AdamState zeros_like(const std::vector<torch::Tensor>& params);
};

// Learning rate at global optimizer step `step` (0-based) of `total` steps: linear warm-up
// over warmup_frac of the steps, then linear decay to min_lr_frac of the peak.
double lr_at(const TrainConfig& tc, int64_t step, int64_t total);

// Mean learning rate over the optimizer steps of round `round` (0-based).
double round_mean_lr(const TrainConfig& tc, int64_t round);

// Optimizer steps a silo of n samples takes per round: train.local_steps, or with
// train.local_epochs > 0, ceil(local_epochs * n / batch_size) (at least one), so every
// silo passes over its own data the same number of times whatever its size.
int64_t silo_steps(const TrainConfig& tc, int64_t n);

// The sample indices a silo trains on in `round`: silo_steps * batch_size draws from
// successive shuffles of 0..n-1, a pure function of (seed, silo, round), so the order
// does not depend on which rank hosts the silo or on a resume.
std::vector<int64_t> round_order(int64_t n, const TrainConfig& tc, uint64_t seed, int64_t silo, int64_t round);

// One AdamW step on the model's trainable parameters with the gradients they hold.
void adamw_step(const std::vector<torch::Tensor>& params, AdamState& st, const TrainConfig& tc, double lr);

// Optimizer steps first_step .. first_step + steps - 1 of a schedule of `total` steps, on
// consecutive batches of tc.batch_size indices from `order` (steps * batch_size of them).
// Returns the mean training loss; after_step(s) is called after each step when given.
double train_steps(Decoder& model, const std::vector<Encoded>& data, const std::vector<int64_t>& order,
                   AdamState& st, const TrainConfig& tc, int64_t first_step, int64_t steps, int64_t total,
                   const std::function<void(int64_t)>& after_step = nullptr);

// Trains `model` on `data` for one round (local_steps AdamW steps) and returns the mean
// training loss over the round.
double train_round(Decoder& model, const std::vector<Encoded>& data, AdamState& st, const TrainConfig& tc,
                   uint64_t seed, int64_t silo, int64_t round);

// FedAvg, result on every rank (on `device`): Σ_j (n_j / Σn) x_j over items j = 0..n-1
// (silos), where item j lives on rank owner(j) and local(j) returns its flat float32
// tensor there. Items are added in index order (clues::ordered_sum, through NCCL when the
// Comm has a device link; `one_at_a_time` as there), so the result does not depend on the
// rank layout. Items of weight 0 are skipped: local(j) is not called and nothing is sent.
torch::Tensor federated_average(const Comm& comm, const std::vector<double>& counts,
                                const std::function<int(int64_t)>& owner,
                                const std::function<torch::Tensor(int64_t)>& local, int64_t numel,
                                const torch::Device& device = torch::kCPU, bool one_at_a_time = false);

// One silo's training state, parked in a file between uses, so that a rank holds the state
// of one hosted silo at a time rather than of all of them: the Adam state carried from round
// to round, and the weights its last round trained until the averaging reads them (file
// format: io/state_file.h).
struct SiloState {
  torch::Tensor theta;  // flat float32, on the host
  AdamState adam;       // shaped like the parameters, on their device
};
void save_silo_state(const std::string& path, const torch::Tensor& theta, const AdamState& st);
// The state saved at `path`, its tensors shaped and placed like `params`; throws IoError
// when the file is missing, short or of another model.
SiloState load_silo_state(const std::string& path, const std::vector<torch::Tensor>& params);
// The same file as one host vector [theta | m | v] of 3·P floats (step to *step if given).
torch::Tensor read_silo_state_flat(const std::string& path, int64_t P, int64_t* step = nullptr);

// Every silo's sample count for round `round`: as given for the silos that train in that
// round (train.sample_silos: all, or a share or count drawn from (seed, round), the same
// on every rank), 0 for the others.
std::vector<double> round_counts(const std::vector<double>& counts, const TrainConfig& tc, uint64_t seed, int64_t round);

// One silo hosted by this rank, as federated_round sees it.
struct LocalSilo {
  int64_t index = 0;                                  // position in the job's silo list
  std::function<std::vector<Encoded>()> data;         // loads the silo's samples when it trains
  std::string state;  // its SiloState file; must exist (write a fresh state before round 0)
  std::string name;   // for messages
};
struct RoundResult {
  torch::Tensor theta, m, v;  // averaged trainable weights and Adam moments (flat)
  double loss = 0;            // sample-weighted mean training loss
};
// One round of silo `s` trained alone (collab=merge): its weights and Adam state from its
// state file, local_steps from there, checked finite and parked again. Returns its mean
// training loss.
double solo_round(const Comm& comm, Decoder& model, const LocalSilo& s, const TrainConfig& tc, uint64_t seed, int64_t round);

// One round of collaborative training: every hosted silo with counts[j] > 0 loads its
// samples and its state (one silo in memory at a time), trains local_steps from `theta` and
// parks weights and state in its state file; weights (and, when asked, moments) are then
// averaged weighted by counts, read back one silo at a time (silos with no samples take no
// part). The model ends holding the last silo's weights.
RoundResult federated_round(const Comm& comm, Decoder& model, const std::vector<LocalSilo>& mine,
                            const std::vector<double>& counts, const std::function<int(int64_t)>& owner,
                            const torch::Tensor& theta, const TrainConfig& tc, uint64_t seed, int64_t round,
                            bool average_moments);

}  // namespace clues
