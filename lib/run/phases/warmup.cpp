// Phase: warm-up. train.rounds rounds of collaborative training on the raw data, in the
// run's collaboration mode (lib/collab/: fedavg averages every round, merge trains each
// silo alone), which writes each round's checkpoint files. Resume: the mode finds the
// rounds whose files are all there and whole, and they are skipped. Returns the last
// round's loss and the warning when training collapsed.
#include <cmath>
#include <cstdio>

#include "io/failpoint.h"
#include "io/files.h"
#include "lib/dist/log.h"
#include "lib/run/phases.h"

namespace clues {

namespace {

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

WarmUp warm_up(RunContext& ctx, Collaboration& collab) {
  const Config& cfg = ctx.cfg;
  const TrainConfig& tc = cfg.train;
  WarmUp out;
  double first_loss = -1;
  int64_t rounds_run = 0;
  for (int64_t r = collab.begin_warmup(); r < tc.rounds; ++r) {
    const double t_round = elapsed_s();
    out.last_loss = collab.warmup_round(r);
    if (rounds_run++ == 0) first_loss = out.last_loss;
    failpoint("warmup_round", ctx.comm.rank());
    const double dt = elapsed_s() - t_round;
    char buf[200];
    std::snprintf(buf, sizeof buf, "warm-up round %lld/%lld (%s): train loss %.4f, mean lr %.3g, %s, ETA %s",
                  static_cast<long long>(r + 1), static_cast<long long>(tc.rounds), collab.name(), out.last_loss,
                  round_mean_lr(tc, r), format_seconds(dt).c_str(),
                  format_seconds(dt * static_cast<double>(tc.rounds - r - 1)).c_str());
    log0(ctx.comm, buf);
  }
  if (const std::string w = collapse_warning(cfg, first_loss, out.last_loss, rounds_run); !w.empty()) {
    log0(ctx.comm, "WARNING: " + w);
    out.warnings.push_back(w);
  }
  collab.end_warmup();
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "warmup");
  return out;
}

}  // namespace clues
