// collab=merge (lib/collab/collaboration.h): every silo trains on from its own weights with
// its own Adam state, nothing averaged. Round r's files: each silo's own weights, moments
// and lr (round_NNN_silo_<silo>.h5). Each silo is judged along its own trajectory, on its
// own rank; fine-tuning on a selection trains each silo alone, then rank 0 merges the
// trained weights once (merge.*, lib/model/merge.h) and sends the result to every rank.
#include "io/error.h"
#include "io/h5.h"
#include "lib/collab/collaboration.h"
#include "lib/model/checkpoint.h"
#include "lib/model/merge.h"
#include "lib/dist/collect.h"

namespace clues {

namespace {

class Merge final : public Collaboration {
 public:
  using Collaboration::Collaboration;
  const char* name() const override { return "merge"; }

  double warmup_round(int64_t r) override {
    const TrainConfig& tc = env_.cfg.train;
    const auto counts = round_counts(env_.counts, tc, env_.cfg.seed, r);  // 0: not training this round
    double loss = 0, total = 0;
    for (double n : counts) total += n;
    const auto mine = locals(kWarmup);
    agree_on_errors(env_.comm, [&] {  // divergence on any rank: one message, every rank stops
      for (const auto& l : mine)
        if (counts[static_cast<size_t>(l.index)] > 0)
          loss += counts[static_cast<size_t>(l.index)] / total * solo_round(env_.comm, m_.model, l, tc, env_.cfg.seed, r);
    });
    const double lr = round_mean_lr(tc, r);
    for (const auto& s : env_.hosted) {
      const SiloState st = load_silo_state(env_.files.silo_state(kWarmup, s.name), m_.params);
      write_h5_file(env_.files.silo_moments(r, s.name), [&](H5File& f) {
        write_flat(f, "/trainable", m_.named, st.theta);
        write_flat(f, "/m", m_.named, flatten(st.adam.m));
        write_flat(f, "/v", m_.named, flatten(st.adam.v));
        f.set_attr("/", "step", static_cast<double>(st.adam.step));
        f.set_attr("/", "samples", static_cast<double>(s.samples));
        f.set_attr("/", "lr", lr);
      });
    }
    return env_.comm.allreduce_sum(loss);
  }

  std::vector<Judge> judges(int64_t c) const override {
    std::vector<Judge> out;
    for (const auto& s : env_.hosted) {
      Judge j;
      j.weights = env_.files.silo_moments(c, s.name);
      j.silos = {s.index};
      j.suffix = "_for_" + s.name;
      out.push_back(j);
    }
    return out;
  }

  void load_final(int64_t silo) override {
    for (const auto& s : env_.hosted)
      if (s.index == silo)
        return unflatten_into(read_flat(H5File::open_read(env_.files.silo_moments(env_.cfg.train.rounds - 1, s.name)),
                                        "/trainable", m_.named),
                              m_.params);
    throw Error("silo " + std::to_string(silo) + " is not hosted by this rank");
  }
  bool one_final_model() const override { return false; }  // each silo its own fine-tuning

 protected:
  // A round counts as done when every silo's file reads back whole.
  int64_t resume_rounds() override {
    int64_t done = 0;
    while (done < env_.cfg.train.rounds) {
      bool ok = true;
      for (const auto& s : env_.hosted)
        ok = ok && intact(env_.files.silo_moments(done, s.name), {"/trainable", "/m", "/v"});
      if (!env_.comm.all_ok(ok)) break;
      ++done;
    }
    if (done > 0) restore_states(done - 1, true, torch::Tensor());
    return done;
  }

  // Every silo with kept samples trains alone from the base; rank 0 gathers the trained
  // weights (one silo's at a time from its rank), merges them once and broadcasts.
  torch::Tensor train_selected(const std::vector<LocalSilo>& locals, const std::vector<double>& counts,
                               uint64_t seed) override {
    const Config& cfg = env_.cfg;
    for (int64_t r = 0; r < cfg.train.rounds; ++r) {
      const auto rc = round_counts(counts, cfg.train, seed, r);  // 0: kept nothing, or not drawn this round
      agree_on_errors(env_.comm, [&] {  // divergence on any rank: one message, every rank stops
        for (const auto& l : locals)
          if (rc[static_cast<size_t>(l.index)] > 0) solo_round(env_.comm, m_.model, l, cfg.train, seed, r);
      });
    }
    std::map<int64_t, const LocalSilo*> hosted;
    for (const auto& l : locals) hosted[l.index] = &l;
    const auto S = static_cast<int64_t>(counts.size());
    const int64_t P = m_.P;
    const auto trained = collect<float>(env_.comm, S, env_.owner, [&](int64_t j) {
      if (counts[static_cast<size_t>(j)] <= 0) return std::vector<float>();  // took no part
      const auto t = read_silo_state_flat(hosted.at(j)->state, P).narrow(0, 0, P).contiguous();
      return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + P);
    });
    auto merged = torch::empty({P}, torch::kFloat32);
    if (env_.comm.is_root()) {
      std::vector<torch::Tensor> thetas;
      const auto w = merge_weights(cfg.merge, counts);
      std::vector<double> weights;
      for (int64_t j = 0; j < S; ++j)
        if (counts[static_cast<size_t>(j)] > 0) {
          thetas.push_back(torch::from_blob(const_cast<float*>(trained[static_cast<size_t>(j)].data()), {P}, torch::kFloat32));
          weights.push_back(w[static_cast<size_t>(j)]);
        }
      const double scaling = cfg.model.lora_alpha / static_cast<double>(cfg.model.lora_rank);
      merged.copy_(merge_trained(cfg.merge, m_.model->trainable(), thetas, m_.theta0.to(torch::kCPU), weights, scaling));
    }
    env_.comm.broadcast(merged.data_ptr<float>(), P * static_cast<int64_t>(sizeof(float)));
    return merged.to(m_.theta0.device());
  }
};

}  // namespace

std::unique_ptr<Collaboration> make_merge(CollabEnv env, Trainable& m) {
  return std::make_unique<Merge>(std::move(env), m);
}

}  // namespace clues
