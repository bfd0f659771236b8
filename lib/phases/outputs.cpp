// Phase: outputs. The run summary (rank 0), scores.h5 written by every rank through
// MPI-IO (each its hosted silos), comparison.md, and report.json last, so that its
// presence means the run finished.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "io/report.h"
#include "io/scores_file.h"
#include "io/files.h"
#include "lib/log.h"
#include "lib/phases.h"
#include "lib/select.h"

namespace clues {

namespace {

// The per-silo summary and the detection figures of the run's selection and the ranking
// behind it (the CLUES score, or the blend under select.rank=blend; as for its comparison
// row), rank 0.
void summarise(RunContext& ctx, RunState& run) {
  const Gathered& all = run.all;
  RunSummary& summary = run.summary;
  CompareRow own;
  own.silos.resize(ctx.silos.size());
  std::vector<std::vector<double>> ranking;
  for (size_t u = 0; u < ctx.silos.size(); ++u)
    ranking.push_back(row_ranking(ctx.cfg.selection_row(),
                                  {all.score[u], all.loss[u], all.ifd[u], all.datainf[u], ctx.cfg.select}));
  fill_detection(own, ranking, all.selected, all.labels, true);
  for (size_t u = 0; u < ctx.silos.size(); ++u) {
    SiloSummary ss;
    ss.name = ctx.silos[u].name;
    ss.threshold = run.silo_tau[u];
    ss.samples = static_cast<int64_t>(all.score[u].size());
    ss.kept = std::accumulate(all.selected[u].begin(), all.selected[u].end(), int64_t{0});
    ss.test_loss = all.test_loss[u];
    if (!all.labels[u].empty()) {
      ss.bad_share = static_cast<double>(std::accumulate(all.labels[u].begin(), all.labels[u].end(), int64_t{0})) /
                     static_cast<double>(ss.samples);
      const RowSilo& d = own.silos[u];
      ss.auroc = d.auroc;
      ss.precision = d.precision;
      ss.recall = d.recall;
      ss.f1 = d.f1;
    }
    summary.silos.push_back(ss);
    // Scores that are all equal select arbitrarily: say so.
    const auto [lo, hi] = std::minmax_element(all.score[u].begin(), all.score[u].end());
    if (all.score[u].size() > 1 && *hi - *lo <= 1e-9 * std::max(std::abs(*lo), std::abs(*hi))) {
      const std::string w = "the scores of silo " + ss.name + " are all equal (" + std::to_string(*lo) +
                            "): its selection carries no information; check the warm-up's loss and train.lr";
      log0(ctx.comm, "WARNING: " + w);
      run.warnings.push_back(w);
    }
  }
  summary.pooled_auroc = own.pooled_auroc;
  summary.pooled_precision = own.pooled_precision;
  summary.pooled_recall = own.pooled_recall;
  summary.pooled_f1 = own.pooled_f1;
}

void write_scores(RunContext& ctx, RunState& run) {
  std::vector<SiloColumns> cols;
  for (const auto& e : ctx.silos) {
    SiloColumns c;
    c.name = e.name;
    c.samples = e.samples;
    c.anchors = static_cast<int64_t>(ctx.anchor.size());
    c.threshold = run.silo_tau[static_cast<size_t>(e.index)];
    c.here = ctx.hosts(e.index);
    if (c.here) {
      const HostedSilo& s = run.hosted(e.index);
      c.score = s.score.data();
      c.warmup_loss = s.loss.data();
      c.max_token_loss = s.max_token_loss.data();
      c.base_loss = s.base_loss.data();
      c.anchor_loss = s.anchor_loss.data();
      c.ifd = s.ifd.data();
      c.selected = s.selected.data();
      c.datainf = s.datainf.data();
    }
    cols.push_back(c);
  }
  // The anchor scores behind the threshold: one set (server moments) or every silo's.
  const auto anchors = static_cast<int64_t>(ctx.anchor.size()) *
                       (ctx.cfg.select.anchor_moments == Moments::kSilo ? static_cast<int64_t>(ctx.silos.size()) : 1);
  write_scores_file(ctx.files.scores(), ctx.comm.raw(), cols, anchors, run.anchor_score, static_cast<int64_t>(run.lrs.size()),
                    run.lrs, run.tau, ctx.cfg.to_ini(), run.with_datainf);
}

}  // namespace

RunSummary write_outputs(RunContext& ctx, RunState& run) {
  const Comm& comm = ctx.comm;
  run.summary.threshold = run.tau;
  if (comm.is_root()) summarise(ctx, run);
  write_scores(ctx, run);
  ctx.clock.end(comm, "output");
  run.summary.seconds = ctx.clock.since_start();
  ctx.clock.timings["total"] = comm.allreduce_max(run.summary.seconds);

  failpoint("before_report", comm.rank());
  if (comm.is_root()) {
    std::vector<std::string> names;
    RunFacts facts;
    for (const auto& e : ctx.silos) {
      names.push_back(e.name);
      facts.host_rank.push_back(e.owner);
    }
    if (!run.summary.comparison.empty())
      write_text_atomic(ctx.files.comparison_md(),
                        "# Comparison (" + ctx.cfg.out + ")\n\n" + comparison_markdown(run.summary.comparison, names));
    const Config& cfg = ctx.cfg;
    facts.threshold_mode = to_string(cfg.select.threshold);
    facts.anchor_moments = to_string(cfg.select.anchor_moments);
    facts.collab = to_string(cfg.collab);
    facts.scope = to_string(cfg.threshold_scope());
    facts.rank = to_string(cfg.select.rank);
    facts.engine = to_string(cfg.score.engine);
    facts.precondition = to_string(cfg.score.precondition);
    facts.ranks = comm.size();
    facts.checkpoints = cfg.train.rounds;
    facts.trainable_params = run.P;
    facts.truncated_samples = ctx.truncated;
    facts.anchor_samples = static_cast<int64_t>(ctx.anchor.size());
    facts.anchor_mean_score = mean(run.anchor_score);
    facts.timings_s = ctx.clock.timings;
    facts.warnings = run.warnings;
    write_report(ctx.files.report(), run.summary, facts);
  }
  comm.barrier();
  return run.summary;
}

}  // namespace clues
