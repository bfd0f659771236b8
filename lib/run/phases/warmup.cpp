// Phase: warm-up. train.rounds rounds of collaborative training on the raw data, in the
// run's collaboration mode (lib/collab/: fedavg averages every round, merge trains each
// silo alone), which writes each round's checkpoint files. Resume: the mode finds the
// rounds whose files are all there and whole, and they are skipped. Returns the last
// round's loss and the warning when training collapsed.
#include <cmath>
#include <cstdio>

#include "io/files.h"
#include "lib/dist/log.h"
#include "lib/run/phases.h"

namespace clues {

WarmUp warm_up(RunContext& ctx, Collaboration& collab) {
  const Config& cfg = ctx.cfg;
  const TrainConfig& tc = cfg.train;
  WarmUp out;
  for (int64_t r = collab.begin_warmup(); r < tc.rounds; ++r) {
    const double t_round = elapsed_s();
    out.last_loss = collab.warmup_round(r);
    failpoint("warmup_round", ctx.comm.rank());
    const double dt = elapsed_s() - t_round;
    char buf[200];
    std::snprintf(buf, sizeof buf, "warm-up round %lld/%lld (%s): train loss %.4f, mean lr %.3g, %s, ETA %s",
                  static_cast<long long>(r + 1), static_cast<long long>(tc.rounds), collab.name(), out.last_loss,
                  round_mean_lr(tc, r), format_seconds(dt).c_str(),
                  format_seconds(dt * static_cast<double>(tc.rounds - r - 1)).c_str());
    log0(ctx.comm, buf);
  }
  // Collapse: a loss near ln(V) is uniform guessing, and the scores will say nothing.
  const double uniform = std::log(static_cast<double>(cfg.model.vocab));
  if (out.last_loss >= 0.95 * uniform) {
    char buf[320];
    std::snprintf(buf, sizeof buf, "training collapsed: the warm-up's last train loss %.4f is that of guessing "
                  "uniformly over %lld tokens (%.4f), so the scores carry no information; lower train.lr",
                  out.last_loss, static_cast<long long>(cfg.model.vocab), uniform);
    log0(ctx.comm, std::string("WARNING: ") + buf);
    out.warnings.emplace_back(buf);
  }
  collab.end_warmup();
  ctx.comm.barrier();
  ctx.clock.end(ctx.comm, "warmup");
  return out;
}

}  // namespace clues
