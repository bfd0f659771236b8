// Phase: warm-up. train.rounds rounds of training on the raw data. fedavg: every hosted
// silo trains local_steps from the global weights, then weights and Adam moments are
// averaged weighted by sample count; merge: every silo trains on from its own weights, with
// nothing averaged. After each round the checkpoint files hold what scoring needs:
// round_NNN.h5 (fedavg: global weights, server moments, lr) and each silo's own moments
// (merge: with its own weights and the lr). Resume: rounds whose files are all there and
// whole are skipped.
#include <cmath>
#include <cstdio>

#include "io/files.h"
#include "io/h5.h"
#include "lib/log.h"
#include "lib/phases.h"

namespace clues {

namespace {

const char* kPhase = "warmup";  // the silo state files' phase name

// True when `path` exists and its datasets `groups` read back whole. A damaged file (cut by
// a full disk or a partial copy, say) is named in the log and counts as missing: its round
// is redone, and as training is deterministic the redone round writes the same file.
bool intact(const RunContext& ctx, const RunState& run, const std::string& path, const std::vector<std::string>& groups) {
  if (!file_exists(path)) return false;
  try {
    const H5File f = H5File::open_read(path);
    for (const auto& g : groups) read_flat(f, g, run.named);
    return true;
  } catch (const std::exception& e) {
    log_any(ctx.comm, "resume: " + path + " is damaged and its round is redone (" + std::string(e.what()).substr(0, 200) + ")");
    return false;
  }
}

// Rounds already done by a killed run: a round counts as done when its global file and
// every silo's moment file are there and read back whole. Restores the global weights and
// each hosted silo's Adam state from the last of them.
int64_t resume_rounds(RunContext& ctx, RunState& run) {
  const Comm& comm = ctx.comm;
  const bool merge = ctx.cfg.collab == Collab::kMerge;
  const std::vector<std::string> silo_groups = merge ? std::vector<std::string>{"/trainable", "/m", "/v"}
                                                     : std::vector<std::string>{"/m", "/v"};
  int64_t done = 0;
  while (done < ctx.cfg.train.rounds) {
    bool ok = merge || !comm.is_root() || intact(ctx, run, ctx.files.round(done), {"/trainable"});
    for (const auto& s : run.mine) ok = ok && intact(ctx, run, ctx.files.silo_moments(done, s.entry->name), silo_groups);
    if (!comm.all_ok(ok)) break;
    ++done;
  }
  if (done == 0) return 0;
  if (!merge) run.theta = read_flat(H5File::open_read(ctx.files.round(done - 1)), "/trainable", run.named).to(ctx.device);
  for (const auto& s : run.mine) {
    auto f = H5File::open_read(ctx.files.silo_moments(done - 1, s.entry->name));
    AdamState st = AdamState::zeros_like(run.params);
    unflatten_into(read_flat(f, "/m", run.named), st.m);
    unflatten_into(read_flat(f, "/v", run.named), st.v);
    st.step = static_cast<int64_t>(f.attr_f64("/", "step"));
    ctx.files.remove_silo_state(kPhase, s.entry->name);
    save_silo_state(ctx.files.silo_state(kPhase, s.entry->name), merge ? read_flat(f, "/trainable", run.named) : run.theta, st);
  }
  log0(comm, "resume: " + std::to_string(done) + " of " + std::to_string(ctx.cfg.train.rounds) +
                 " warm-up rounds already done");
  return done;
}

// The checkpoint files of round r: each hosted silo's own moments (merge: with its own
// weights and the lr), and (fedavg, rank 0) the global weights with the server's averaged
// moments.
void write_round(RunContext& ctx, RunState& run, int64_t r, const RoundResult& rr, double lr) {
  const bool merge = ctx.cfg.collab == Collab::kMerge;
  for (const auto& s : run.mine) {
    const SiloState st = load_silo_state(ctx.files.silo_state(kPhase, s.entry->name), run.params);
    write_h5_file(ctx.files.silo_moments(r, s.entry->name), [&](H5File& f) {
      if (merge) write_flat(f, "/trainable", run.named, st.theta);
      write_flat(f, "/m", run.named, flatten(st.adam.m));
      write_flat(f, "/v", run.named, flatten(st.adam.v));
      f.set_attr("/", "step", static_cast<double>(st.adam.step));
      f.set_attr("/", "samples", static_cast<double>(s.entry->samples));
      f.set_attr("/", "lr", lr);
    });
  }
  if (!merge && ctx.comm.is_root())
    write_h5_file(ctx.files.round(r), [&](H5File& f) {
      write_flat(f, "/trainable", run.named, rr.theta);
      write_flat(f, "/server/m", run.named, rr.m);
      write_flat(f, "/server/v", run.named, rr.v);
      f.set_attr("/", "lr", lr);
      f.set_attr("/", "round", static_cast<double>(r));
    });
}

// A last loss near ln(V) is uniform guessing, and the scores will say nothing. Why, as far
// as the train losses of the rounds run here tell: worse than guessing, or rising, is too
// high a rate; falling is too short a warm-up for a model that starts from scratch; one
// round cannot tell the two apart. Empty when the loss is well below ln(V).
std::string collapse_warning(const Config& cfg, double first_loss, double last_loss, int64_t rounds_run) {
  const double uniform = std::log(static_cast<double>(cfg.model.vocab));
  if (last_loss < 0.95 * uniform) return "";
  char buf[400];
  std::snprintf(buf, sizeof buf, "the warm-up's last train loss %.4f is close to or above that of guessing uniformly over %lld tokens "
                "(%.4f), so the scores carry little information", last_loss, static_cast<long long>(cfg.model.vocab), uniform);
  std::string out = buf;
  const char* longer = "give the warm-up more steps (train.rounds, train.local_steps) or start from a trained model "
                       "(--pretrain CORPUS, --model DIR)";
  if (last_loss > 1.2 * uniform || (rounds_run > 1 && last_loss > first_loss * 1.01)) {
    if (rounds_run > 1) std::snprintf(buf, sizeof buf, "; it was %.4f after the first round", first_loss);
    out += std::string(rounds_run > 1 ? buf : "; worse than guessing") + ": training diverged, lower train.lr";
  } else if (rounds_run > 1 && last_loss < first_loss * 0.99) {
    std::snprintf(buf, sizeof buf, "; it fell from %.4f after the first round, so the model is learning, slowly: %s",
                  first_loss, longer);
    out += buf + std::string(" (a lower train.lr would not help)");
  } else {
    out += std::string("; one round cannot tell why: a warm-up too short for a model that starts from scratch (then ") +
           longer + "), or too high a rate (then lower train.lr); over more rounds the loss falls or rises and shows which";
  }
  return out;
}

}  // namespace

void warm_up(RunContext& ctx, RunState& run) {
  const Config& cfg = ctx.cfg;
  const TrainConfig& tc = cfg.train;
  const int64_t first_round = cfg.resume ? resume_rounds(ctx, run) : 0;
  if (first_round == 0) {
    const AdamState fresh = AdamState::zeros_like(run.params);
    for (const auto& s : run.mine) {  // a fresh Adam state (and nothing of a killed run's round 0)
      ctx.files.remove_silo_state(kPhase, s.entry->name);
      save_silo_state(ctx.files.silo_state(kPhase, s.entry->name), run.theta0, fresh);
    }
  }
  const std::vector<double> counts = ctx.counts();
  double first_loss = -1, last_loss = -1;
  int64_t rounds_run = 0;
  for (int64_t r = first_round; r < tc.rounds; ++r) {
    const double t_round = elapsed_s();
    std::vector<LocalSilo> locals;
    for (const auto& s : run.mine)
      locals.push_back({s.entry->index, [&ctx, e = s.entry] { return ctx.load(*e).enc; },
                        ctx.files.silo_state(kPhase, s.entry->name), s.entry->name});
    RoundResult rr;
    if (cfg.collab == Collab::kMerge) {  // each silo alone, from its own weights
      double loss = 0, total = 0;
      for (double n : counts) total += n;
      agree_on_errors(ctx.comm, [&] {  // divergence on any rank: one message, every rank stops
        for (const auto& l : locals) loss += counts[static_cast<size_t>(l.index)] / total * solo_round(ctx.comm, run.model, l, tc, cfg.seed, r);
      });
      rr.loss = ctx.comm.allreduce_sum(loss);
    } else {
      rr = federated_round(ctx.comm, run.model, locals, counts, ctx.owner_fn(), run.theta, tc, cfg.seed, r, true);
      run.theta = rr.theta;
    }
    last_loss = rr.loss;
    if (rounds_run++ == 0) first_loss = rr.loss;
    const double lr = round_mean_lr(tc, r);
    write_round(ctx, run, r, rr, lr);
    failpoint("warmup_round", ctx.comm.rank());
    const double dt = elapsed_s() - t_round;
    char buf[200];
    std::snprintf(buf, sizeof buf, "warm-up round %lld/%lld: train loss %.4f, mean lr %.3g, %s, ETA %s",
                  static_cast<long long>(r + 1), static_cast<long long>(tc.rounds), rr.loss, lr,
                  format_seconds(dt).c_str(), format_seconds(dt * static_cast<double>(tc.rounds - r - 1)).c_str());
    log0(ctx.comm, buf);
  }
  if (const std::string w = collapse_warning(cfg, first_loss, last_loss, rounds_run); !w.empty()) {
    log0(ctx.comm, "WARNING: " + w);
    run.warnings.push_back(w);
  }
  for (const auto& s : run.mine) ctx.files.remove_silo_state(kPhase, s.entry->name);  // the moments files hold what scoring needs
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "warmup");
}

}  // namespace clues
