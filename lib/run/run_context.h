// The run context: everything a clues run decides once, before its first phase, and every
// phase reads: the resolved and validated configuration, the communicator (with its NCCL
// link on GPU jobs), the device, the output folder's layout, the silo table (name, path,
// host rank, size, samples), the public validation and anchor sets, the model factory and
// the phase clock. Built on every rank by make_run_context, which also checks every input
// file and then prepares the output folder; phases (lib/run/phases.h) take it by reference.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/layout.h"
#include "lib/collab/collaboration.h"
#include "lib/dist/comm.h"
#include "lib/config/config.h"
#include "lib/dist/device.h"
#include "lib/model/model.h"
#include "lib/model/tokenizer.h"

namespace clues {

// One silo of the job. Every rank knows the first six fields; labels and test are read
// only on the rank hosting the silo (its owner).
struct SiloEntry {
  int64_t index = 0;            // position in --silo order
  std::string name, path;
  int owner = 0;                // the rank hosting it
  int64_t bytes = 0;            // input file size (balances silos over ranks)
  int64_t samples = 0;          // input lines
  std::vector<uint8_t> labels;  // owner only; empty without --labels
  std::vector<Encoded> test;    // owner only; empty without --test
};

// A silo's samples, read and encoded when a phase needs them and dropped after, so a rank
// holds one silo's samples at a time however many it hosts.
struct SiloData {
  std::vector<Record> records;
  std::vector<Encoded> enc;
};

// Seconds per phase, each the slowest rank's, and the phase's communication: seconds inside
// MPI calls and device collectives (the most of any rank; waiting included) and payload
// bytes (summed over the ranks), from lib/dist/process_stats.h.
class PhaseClock {
 public:
  PhaseClock();
  // Records the time since the last phase ended as `name` (collective: max over ranks).
  void end(const Comm& comm, const std::string& name);
  double since_start() const;
  std::map<std::string, double> timings, comm_s, comm_bytes;

 private:
  double start_, last_;
  double last_comm_s_ = 0, last_comm_bytes_ = 0;
};

struct RunContext {
  Config cfg;
  Comm comm = Comm::serial();
  torch::Device device = torch::kCPU;
  std::unique_ptr<DeviceScope> device_scope;
  RunLayout files{""};
  std::vector<SiloEntry> silos;       // every silo, in --silo order
  // Public validation sets: one pooled (domain "") or one per domain; their mean gradients define "good".
  struct ValidationSet {
    std::string domain;
    std::vector<Encoded> samples;
  };
  std::vector<ValidationSet> validation;
  std::vector<Encoded> anchor;        // public: scored like private data, for the threshold (every domain's, pooled)
  std::map<std::string, std::vector<Encoded>> anchor_domains;  // --anchor NAME=PATH: each silo's own domain's
  int64_t truncated = 0;              // samples of all silos cut to model.max_seq_len
  std::shared_ptr<const Tokenizer> tokenizer;  // bytes, or the model folder's
  SampleFormat format;                // prompt template, loss coverage, length cap (scores, losses, evaluation)
  SampleFormat train_format;          // the same with train.loss_on's coverage (training)
  PhaseClock clock;

  int owner(int64_t silo) const { return silos[static_cast<size_t>(silo)].owner; }
  std::function<int(int64_t)> owner_fn() const;
  bool hosts(int64_t silo) const { return owner(silo) == comm.rank(); }
  // Sample count of every silo (for the weighted averages), and their sum.
  std::vector<double> counts() const;
  // The model of this configuration: weights from the run's seed (the base before
  // pretraining), or the model folder's weights (LoRA adapters from the seed).
  Decoder make_model() const;
  SiloData load(const SiloEntry& silo) const;
  // A silo's samples as training sees them (train.loss_on).
  std::vector<Encoded> training_samples(const SiloEntry& silo) const;
  // The anchors silo `silo` is judged against: its domain's (--anchor NAME=PATH), or the pooled set.
  const std::vector<Encoded>& anchors_of(const std::string& silo) const;
  const std::string& anchor_path_of(const std::string& silo) const;  // for messages
};

// Which rank hosts each silo: longest-processing-time assignment by input file size, so
// the split is deterministic and needs no silo's content on another rank.
std::vector<int> assign_silos(const std::vector<int64_t>& sizes, int ranks);

// Collective. Validates the configuration (unless the caller already did: `validated`),
// prints it (rank 0), picks the device and makes the NCCL link, reads and checks every
// input (each rank its own silos), and only then prepares the output folder (--resume /
// --overwrite rules). Throws InputError for bad input with nothing written.
std::unique_ptr<RunContext> make_run_context(const Config& cfg, const Comm& world, bool validated = false);

// What the collaboration mode (lib/collab/) sees of the run: settings, communicator,
// files, this rank's silos, every silo's size and host, and the loader of a hosted silo.
// The context must outlive it.
CollabEnv collab_env(const RunContext& ctx);

}  // namespace clues
