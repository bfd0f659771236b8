// Phase: outputs. The run summary (rank 0), scores.h5 written by every rank through
// MPI-IO (each its hosted silos), comparison.md, and report.json last, so that its
// presence means the run finished.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "io/report.h"
#include "io/scores_file.h"
#include "io/failpoint.h"
#include "io/files.h"
#include "lib/dist/log.h"
#include "lib/dist/process_stats.h"
#include "lib/run/phases.h"
#include "lib/method/rules.h"
#include "lib/method/select.h"

namespace clues {

namespace {

// The per-silo summary and the detection figures of the run's selection and the ranking
// behind it (its rule's, as for its comparison row), rank 0. Adds a warning for a silo
// whose scores are all equal.
RunSummary summarise(RunContext& ctx, const Selection& sel, std::vector<std::string>& warnings) {
  RunSummary summary;
  const SelectionRule& rule = selection_rule(ctx.cfg.select.rank);
  CompareRow own;
  own.silos.resize(ctx.silos.size());
  std::vector<std::vector<double>> ranking;
  for (size_t u = 0; u < ctx.silos.size(); ++u)
    ranking.push_back(rule_ranking(rule, {sel.signals[u], sel.by_score[u], sel.labels[u], ctx.cfg, static_cast<int64_t>(u)}));
  fill_detection(own, ranking, sel.selected, sel.labels, true);
  for (size_t u = 0; u < ctx.silos.size(); ++u) {
    const auto& score = sel.signals[u].at(signal::kScore);
    SiloSummary ss;
    ss.name = ctx.silos[u].name;
    ss.threshold = sel.silo_tau[u];
    ss.samples = static_cast<int64_t>(score.size());
    ss.kept = std::accumulate(sel.selected[u].begin(), sel.selected[u].end(), int64_t{0});
    ss.test_loss = sel.test_loss[u];
    if (!sel.labels[u].empty()) {
      ss.bad_share = static_cast<double>(std::accumulate(sel.labels[u].begin(), sel.labels[u].end(), int64_t{0})) /
                     static_cast<double>(ss.samples);
      const RowSilo& d = own.silos[u];
      ss.auroc = d.auroc;
      ss.precision = d.precision;
      ss.recall = d.recall;
      ss.f1 = d.f1;
    }
    summary.silos.push_back(ss);
    // Scores that are all equal select arbitrarily: say so.
    const auto [lo, hi] = std::minmax_element(score.begin(), score.end());
    if (score.size() > 1 && *hi - *lo <= 1e-9 * std::max(std::abs(*lo), std::abs(*hi))) {
      const std::string w = "the scores of silo " + ss.name + " are all equal (" + std::to_string(*lo) +
                            "): its selection carries no information; check the warm-up's loss and train.lr";
      log0(ctx.comm, "WARNING: " + w);
      warnings.push_back(w);
    }
  }
  summary.pooled_auroc = own.pooled_auroc;
  summary.pooled_precision = own.pooled_precision;
  summary.pooled_recall = own.pooled_recall;
  summary.pooled_f1 = own.pooled_f1;
  return summary;
}

void write_scores(RunContext& ctx, const Scores& scores, const Selection& sel) {
  std::vector<SiloColumns> cols;
  for (const auto& e : ctx.silos) {
    SiloColumns c;
    c.name = e.name;
    c.samples = e.samples;
    c.anchors = static_cast<int64_t>(ctx.anchors_of(e.name).size());
    c.threshold = sel.silo_tau[static_cast<size_t>(e.index)];
    c.here = ctx.hosts(e.index);
    for (const auto& s : sel.mine)
      if (s.silo == e.index) {
        for (const auto& name : sel.columns) c.columns.push_back(s.signals.at(name).data());
        c.anchor_loss = s.anchor_loss.data();
        c.selected = s.selected.data();
      }
    cols.push_back(c);
  }
  // The anchor scores behind the threshold: one set (server moments) or every silo's own.
  int64_t anchors = static_cast<int64_t>(ctx.anchor.size());
  if (ctx.cfg.select.anchor_moments == Moments::kSilo) {
    anchors = 0;
    for (const auto& e : ctx.silos) anchors += static_cast<int64_t>(ctx.anchors_of(e.name).size());
  }
  write_scores_file(ctx.files.scores(), ctx.comm.raw(), sel.columns, cols, anchors, sel.anchor_score,
                    static_cast<int64_t>(scores.lrs.size()), scores.lrs, sel.tau, ctx.cfg.to_ini());
}

// What report.json records of the run besides its summary.
RunFacts run_facts(const RunContext& ctx, const Trainable& m, const Selection& sel) {
  const Config& cfg = ctx.cfg;
  RunFacts facts;
  for (const auto& e : ctx.silos) facts.host_rank.push_back(e.owner);
  facts.threshold_mode = to_string(cfg.select.threshold);
  facts.anchor_moments = to_string(cfg.select.anchor_moments);
  facts.collab = to_string(cfg.collab);
  facts.scope = to_string(cfg.threshold_scope());
  facts.rank = cfg.select.rank;
  facts.engine = to_string(cfg.score.engine);
  facts.precondition = to_string(cfg.score.precondition);
  facts.ranks = ctx.comm.size();
  facts.checkpoints = cfg.train.rounds;
  facts.sample_silos = cfg.train.sample_silos;
  facts.local_epochs = cfg.train.local_epochs;
  facts.trainable_params = m.P;
  facts.truncated_samples = ctx.truncated;
  facts.anchor_samples = static_cast<int64_t>(ctx.anchor.size());
  facts.anchor_mean_score = mean(sel.anchor_score);
  facts.timings_s = ctx.clock.timings;
  facts.communication_s = ctx.clock.comm_s;
  facts.communication_bytes = ctx.clock.comm_bytes;
  return facts;
}

}  // namespace

RunSummary write_outputs(RunContext& ctx, const Trainable& m, const Scores& scores, const Selection& sel,
                         const Comparison& cmp, const WarmUp& warm) {
  const Comm& comm = ctx.comm;
  std::vector<std::string> warnings = warm.warnings;
  RunSummary summary;
  if (comm.is_root()) summary = summarise(ctx, sel, warnings);
  summary.threshold = sel.tau;
  summary.selection = describe_selection(ctx.cfg);
  summary.comparison = cmp.rows;
  write_scores(ctx, scores, sel);
  ctx.clock.end(comm, "output");
  summary.seconds = ctx.clock.since_start();
  ctx.clock.timings["total"] = comm.allreduce_max(summary.seconds);

  const double rss_max = comm.allreduce_max(peak_rss_mib()), rss_min = -comm.allreduce_max(-peak_rss_mib());
  const double gpu = ctx.device.is_cuda() ? cuda_peak_mib(ctx.device.index()) : -1;
  const double gpu_max = comm.allreduce_max(gpu), gpu_min = -comm.allreduce_max(-gpu);
  failpoint("before_report", comm.rank());
  if (comm.is_root()) {
    std::vector<std::string> names;
    for (const auto& e : ctx.silos) names.push_back(e.name);
    if (!summary.comparison.empty())
      write_text_atomic(ctx.files.comparison_md(),
                        "# Comparison (" + ctx.cfg.out + ")\n\n" + comparison_markdown(summary.comparison, names));
    RunFacts facts = run_facts(ctx, m, sel);
    facts.peak_rss_mib_max = rss_max;
    facts.peak_rss_mib_min = rss_min;
    facts.peak_device_mib_max = gpu_max;
    facts.peak_device_mib_min = gpu_min;
    facts.warnings = warnings;
    write_report(ctx.files.report(), summary, facts);
  }
  comm.barrier();
  if (tracing()) {  // CLUES_TRACE: each rank's timeline of phases and communication
    write_trace(comm.rank());
    log0(comm, "timeline of each rank (Chrome trace: chrome://tracing, ui.perfetto.dev): " +
                   std::string(std::getenv("CLUES_TRACE")) + "<rank>.json");
  }
  return summary;
}

}  // namespace clues
