// How the silos train together: one interface, one implementation per mode (fedavg.cpp,
// merge_mode.cpp), chosen by name in one table (make_collaboration). A mode owns the
// warm-up's rounds and the checkpoint files of its trajectory, which model (and whose
// Adam moments) judges a silo and its anchors at each checkpoint, the final warm-up model
// a silo's losses come from, and training on a selection. Phases (lib/run/) call it and
// never branch on the mode. It sees the run only through CollabEnv: no phase, no argv.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/layout.h"
#include "lib/config/config.h"
#include "lib/dist/comm.h"
#include "lib/method/train.h"
#include "lib/model/trainable.h"

namespace clues {

// A silo hosted by this rank, as a mode needs it.
struct HostedRef {
  int64_t index = 0;  // in the job's silo list
  std::string name;
  int64_t samples = 0;
};

// What a mode reads of the run.
struct CollabEnv {
  const Config& cfg;
  const Comm& comm;
  const RunLayout& files;
  std::vector<HostedRef> hosted;                                // this rank's silos, in silo order
  std::vector<double> counts;                                   // every silo's samples
  std::function<int(int64_t)> owner;                            // the rank hosting silo j
  std::function<std::vector<Encoded>(int64_t)> load;            // a hosted silo's encoded samples
  torch::Device device = torch::kCPU;
};

// One model that judges some of this rank's silos at one checkpoint.
struct Judge {
  std::string weights;        // the checkpoint file holding its weights (/trainable) and lr
  std::vector<int64_t> silos;  // the hosted silos it judges (their moments: their own files)
  bool collective = false;    // every rank takes part in its validation gradient (one global model)
  bool server = false;        // its file holds the server's averaged moments (/server)
  std::string suffix;         // appended to the names of its feature files
};

class Collaboration {
 public:
  Collaboration(CollabEnv env, Trainable& m) : env_(std::move(env)), m_(m) {}
  virtual ~Collaboration() = default;
  virtual const char* name() const = 0;

  // Warm-up. begin_warmup: the rounds a killed run finished whole (with --resume), the
  // training state restored from the last; 0 and a fresh state otherwise.
  int64_t begin_warmup();
  // One round on every hosted silo's raw data, its checkpoint files written; returns the
  // sample-weighted mean training loss (every rank).
  virtual double warmup_round(int64_t r) = 0;
  // Drops the parked training states (the checkpoint files hold what scoring needs).
  void end_warmup();

  // The models that judge this rank's silos at checkpoint c (fedavg: one for all, every
  // rank taking part even with no silo; merge: one per hosted silo).
  virtual std::vector<Judge> judges(int64_t c) const = 0;
  // Loads into the model the final warm-up weights that judge `silo`.
  virtual void load_final(int64_t silo) = 0;
  // True when load_final loads the same weights for every silo (one global model), so
  // what depends only on those weights (the anchors' losses) is computed once per rank.
  virtual bool one_final_model() const = 0;

  // Fine-tunes from the base on a selection of every hosted silo (silo index -> kept flags),
  // rounds and steps as the warm-up's, data order from `seed`, fresh Adam states parked
  // under `phase`. Returns the final weights (every rank, the model's device).
  torch::Tensor train_on_selection(const std::map<int64_t, std::vector<uint8_t>>& selection, uint64_t seed,
                                   const char* phase);

 protected:
  static constexpr const char* kWarmup = "warmup";  // the parked states' phase name
  // The rounds found done (their files whole) and the restore from the last of them.
  virtual int64_t resume_rounds() = 0;
  // Trains the selection's silos (counts: kept per silo, every rank) for the warm-up's rounds.
  virtual torch::Tensor train_selected(const std::vector<LocalSilo>& locals, const std::vector<double>& counts,
                                       uint64_t seed) = 0;
  // The hosted silos as the trainers see them, with their parked states of `phase`.
  std::vector<LocalSilo> locals(const char* phase) const;
  // True when `path` exists and its datasets `groups` read back whole (a damaged file is
  // named in the log and counts as missing).
  bool intact(const std::string& path, const std::vector<std::string>& groups) const;
  // Parks `theta` with the Adam state of round r's moments file as each hosted silo's state.
  void restore_states(int64_t r, bool own_weights, const torch::Tensor& theta);

  CollabEnv env_;
  Trainable& m_;
};

// The mode named by cfg.collab (fedavg | merge: the table in collaboration.cpp).
std::unique_ptr<Collaboration> make_collaboration(CollabEnv env, Trainable& m);

}  // namespace clues
