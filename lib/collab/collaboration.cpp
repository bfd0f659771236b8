// What every collaboration mode shares (lib/collab/collaboration.h): the warm-up's start
// and resume, the parked silo states, fine-tuning on a selection, and the table of modes.
#include "lib/collab/collaboration.h"

#include <numeric>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "lib/dist/log.h"
#include "lib/model/checkpoint.h"

namespace clues {

std::unique_ptr<Collaboration> make_fedavg(CollabEnv env, Trainable& m);  // fedavg.cpp
std::unique_ptr<Collaboration> make_merge(CollabEnv env, Trainable& m);   // merge_mode.cpp

namespace {

struct Mode {
  Collab value;
  std::unique_ptr<Collaboration> (*make)(CollabEnv, Trainable&);
};
const Mode kModes[] = {{Collab::kFedAvg, make_fedavg}, {Collab::kMerge, make_merge}};

}  // namespace

std::unique_ptr<Collaboration> make_collaboration(CollabEnv env, Trainable& m) {
  for (const auto& mode : kModes)
    if (mode.value == env.cfg.collab) return mode.make(std::move(env), m);
  throw Error("collab=" + to_string(env.cfg.collab) + " has no implementation");
}

int64_t Collaboration::begin_warmup() {
  const int64_t done = env_.cfg.resume ? resume_rounds() : 0;
  if (done > 0) {
    log0(env_.comm, "resume: " + std::to_string(done) + " of " + std::to_string(env_.cfg.train.rounds) +
                        " warm-up rounds already done");
    return done;
  }
  const AdamState fresh = AdamState::zeros_like(m_.params);
  for (const auto& s : env_.hosted) {  // a fresh Adam state (and nothing of a killed run's round 0)
    env_.files.remove_silo_state(kWarmup, s.name);
    save_silo_state(env_.files.silo_state(kWarmup, s.name), m_.theta0, fresh);
  }
  return 0;
}

void Collaboration::end_warmup() {
  for (const auto& s : env_.hosted) env_.files.remove_silo_state(kWarmup, s.name);
}

std::vector<LocalSilo> Collaboration::locals(const char* phase) const {
  std::vector<LocalSilo> out;
  for (const auto& s : env_.hosted)
    out.push_back({s.index, [load = env_.load, j = s.index] { return load(j); }, env_.files.silo_state(phase, s.name), s.name});
  return out;
}

bool Collaboration::intact(const std::string& path, const std::vector<std::string>& groups) const {
  if (!file_exists(path)) return false;
  try {
    const H5File f = H5File::open_read(path);
    for (const auto& g : groups) read_flat(f, g, m_.named);
    return true;
  } catch (const std::exception& e) {
    log_any(env_.comm, "resume: " + path + " is damaged and its round is redone (" + std::string(e.what()).substr(0, 200) + ")");
    return false;
  }
}

void Collaboration::restore_states(int64_t r, bool own_weights, const torch::Tensor& theta) {
  for (const auto& s : env_.hosted) {
    auto f = H5File::open_read(env_.files.silo_moments(r, s.name));
    AdamState st = AdamState::zeros_like(m_.params);
    unflatten_into(read_flat(f, "/m", m_.named), st.m);
    unflatten_into(read_flat(f, "/v", m_.named), st.v);
    st.step = static_cast<int64_t>(f.attr_f64("/", "step"));
    env_.files.remove_silo_state(kWarmup, s.name);
    save_silo_state(env_.files.silo_state(kWarmup, s.name), own_weights ? read_flat(f, "/trainable", m_.named) : theta, st);
  }
}

torch::Tensor Collaboration::train_on_selection(const std::map<int64_t, std::vector<uint8_t>>& selection, uint64_t seed,
                                                const char* phase) {
  std::vector<double> counts(env_.counts.size(), 0.0);
  std::vector<LocalSilo> subsets;
  for (const auto& s : env_.hosted) {
    const auto& picked = selection.at(s.index);
    counts[static_cast<size_t>(s.index)] = static_cast<double>(std::accumulate(picked.begin(), picked.end(), 0));
    // The selected subset of the silo, loaded when the silo trains.
    subsets.push_back({s.index, [load = env_.load, &picked, j = s.index] {
                         std::vector<Encoded> subset;
                         auto all = load(j);
                         for (size_t k = 0; k < all.size(); ++k)
                           if (picked[k]) subset.push_back(std::move(all[k]));
                         return subset;
                       },
                       env_.files.silo_state(phase, s.name), s.name});
  }
  for (auto& c : counts) c = env_.comm.allreduce_sum(c);
  const AdamState fresh = AdamState::zeros_like(m_.params);
  for (const auto& l : subsets) save_silo_state(l.state, m_.theta0, fresh);  // a fresh Adam state per fine-tuning
  torch::Tensor th = m_.theta0;
  if (std::accumulate(counts.begin(), counts.end(), 0.0) > 0) th = train_selected(subsets, counts, seed);
  for (const auto& s : env_.hosted) env_.files.remove_silo_state(phase, s.name);
  return th;
}

}  // namespace clues
