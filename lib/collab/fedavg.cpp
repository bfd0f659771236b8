// collab=fedavg (lib/collab/collaboration.h): every round each hosted silo trains
// local_steps from the global weights, then weights and Adam moments are averaged weighted
// by sample count. Round r's files: round_NNN.h5 (rank 0: global weights, the server's
// averaged moments, lr) and each silo's own moments. One global model judges every silo at
// each checkpoint, with the validation gradient split over the ranks; fine-tuning on a
// selection averages every round too.
#include <numeric>

#include "io/h5.h"
#include "lib/collab/collaboration.h"
#include "lib/model/checkpoint.h"

namespace clues {

namespace {

class FedAvg final : public Collaboration {
 public:
  FedAvg(CollabEnv env, Trainable& m) : Collaboration(std::move(env), m), theta_(m.theta0) {}
  const char* name() const override { return "fedavg"; }

  double warmup_round(int64_t r) override {
    const TrainConfig& tc = env_.cfg.train;
    const RoundResult rr = federated_round(env_.comm, m_.model, locals(kWarmup), round_counts(env_.counts, tc, env_.cfg.seed, r),
                                           env_.owner, theta_, tc, env_.cfg.seed, r, true);
    theta_ = rr.theta;
    const double lr = round_mean_lr(tc, r);
    for (const auto& s : env_.hosted) {
      const SiloState st = load_silo_state(env_.files.silo_state(kWarmup, s.name), m_.params);
      write_h5_file(env_.files.silo_moments(r, s.name), [&](H5File& f) {
        write_flat(f, "/m", m_.named, flatten(st.adam.m));
        write_flat(f, "/v", m_.named, flatten(st.adam.v));
        f.set_attr("/", "step", static_cast<double>(st.adam.step));
        f.set_attr("/", "samples", static_cast<double>(s.samples));
        f.set_attr("/", "lr", lr);
      });
    }
    if (env_.comm.is_root())
      write_h5_file(env_.files.round(r), [&](H5File& f) {
        write_flat(f, "/trainable", m_.named, rr.theta);
        write_flat(f, "/server/m", m_.named, rr.m);
        write_flat(f, "/server/v", m_.named, rr.v);
        f.set_attr("/", "lr", lr);
        f.set_attr("/", "round", static_cast<double>(r));
      });
    return rr.loss;
  }

  std::vector<Judge> judges(int64_t c) const override {
    Judge j;
    j.weights = env_.files.round(c);
    for (const auto& s : env_.hosted) j.silos.push_back(s.index);
    j.collective = j.server = true;
    return {j};
  }

  void load_final(int64_t) override { unflatten_into(theta_, m_.params); }
  bool one_final_model() const override { return true; }

 protected:
  // A round counts as done when its global file (rank 0) and every silo's moments file
  // read back whole.
  int64_t resume_rounds() override {
    int64_t done = 0;
    while (done < env_.cfg.train.rounds) {
      bool ok = !env_.comm.is_root() || intact(env_.files.round(done), {"/trainable"});
      for (const auto& s : env_.hosted) ok = ok && intact(env_.files.silo_moments(done, s.name), {"/m", "/v"});
      if (!env_.comm.all_ok(ok)) break;
      ++done;
    }
    if (done == 0) return 0;
    theta_ = read_flat(H5File::open_read(env_.files.round(done - 1)), "/trainable", m_.named).to(env_.device);
    restore_states(done - 1, false, theta_);
    return done;
  }

  torch::Tensor train_selected(const std::vector<LocalSilo>& locals, const std::vector<double>& counts,
                               uint64_t seed) override {
    torch::Tensor th = m_.theta0;
    for (int64_t r = 0; r < env_.cfg.train.rounds; ++r) {
      const auto rc = round_counts(counts, env_.cfg.train, seed, r);
      if (std::accumulate(rc.begin(), rc.end(), 0.0) <= 0) continue;  // the round drew only silos that kept nothing
      th = federated_round(env_.comm, m_.model, locals, rc, env_.owner, th, env_.cfg.train, seed, r, false).theta;
    }
    return th;
  }

 private:
  torch::Tensor theta_;  // the global weights: the base's, then each warm-up round's
};

}  // namespace

std::unique_ptr<Collaboration> make_fedavg(CollabEnv env, Trainable& m) {
  return std::make_unique<FedAvg>(std::move(env), m);
}

}  // namespace clues
