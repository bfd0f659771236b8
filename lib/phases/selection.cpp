// Phase: selection. The global threshold τ from the anchor scores (rank 0, broadcast), or
// each silo's own from the anchors under its moments; every hosted silo keeps its samples
// at or above its threshold and writes selected/<silo>.jsonl. The warm-up's final model
// also gives each sample's loss and IFD (the perplexity and IFD baselines) and the
// held-out test loss. Then every silo's results are gathered on rank 0, in silo order.
#include <numeric>

#include "io/files.h"
#include "lib/collect.h"
#include "lib/evaluate.h"
#include "lib/phases.h"
#include "lib/select.h"

namespace clues {

namespace {

// Selection, selected/<silo>.jsonl and the warm-up model's losses for one hosted silo.
void select_silo(RunContext& ctx, RunState& run, HostedSilo& s) {
  const SelectConfig& sc = ctx.cfg.select;
  const int64_t batch = ctx.cfg.score.batch_size;
  s.tau = sc.anchor_moments == Moments::kSilo ? anchor_threshold(s.anchor_score, sc) : run.tau;
  s.selected = sc.threshold == ThresholdRule::kRatio ? select_top_ratio(s.score, sc.keep_ratio)
                                                     : select_at_threshold(s.score, s.tau);
  const SiloData d = ctx.load(*s.entry);
  std::string kept;
  for (size_t i = 0; i < d.records.size(); ++i)
    if (s.selected[i]) kept += d.records[i].raw + "\n";
  write_text_atomic(ctx.files.selected(s.entry->name), kept);
  if (!s.entry->test.empty()) s.test_loss = mean(sample_losses(run.model, s.entry->test, batch));
  // Per-sample losses under the same model, for the perplexity and IFD baselines.
  s.loss = sample_losses(run.model, d.enc, batch);
  std::vector<Encoded> alone;
  for (const auto& e : d.enc) alone.push_back(answer_alone(e, ctx.cfg.model.bos_id));
  s.ifd = ifd(s.loss, sample_losses(run.model, alone, batch));
}

}  // namespace

void select_samples(RunContext& ctx, RunState& run) {
  const Comm& comm = ctx.comm;
  run.tau = comm.is_root() ? anchor_threshold(run.anchor_score, ctx.cfg.select) : 0.0;
  comm.broadcast(&run.tau, sizeof run.tau);
  unflatten_into(run.theta, run.params);  // final warm-up model, for the held-out loss
  for (auto& s : run.mine) select_silo(ctx, run, s);

  // Per-silo vectors to rank 0, in silo order (labels too: evaluation-only ground truth).
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const auto owner = ctx.owner_fn();
  auto gather = [&](auto field) {
    using T = typename std::decay_t<decltype(field(run.mine.front()))>::value_type;
    return collect<T>(comm, S, owner, [&](int64_t j) { return field(run.hosted(j)); });
  };
  run.all.score = gather([](const HostedSilo& s) { return s.score; });
  run.all.selected = gather([](const HostedSilo& s) { return s.selected; });
  run.all.labels = gather([](const HostedSilo& s) { return s.entry->labels; });
  run.all.loss = gather([](const HostedSilo& s) { return s.loss; });
  run.all.ifd = gather([](const HostedSilo& s) { return s.ifd; });
  run.silo_tau.assign(static_cast<size_t>(S), 0.0);  // every rank: scores.h5 attributes
  for (const auto& s : run.mine) run.silo_tau[static_cast<size_t>(s.entry->index)] = s.tau;
  for (auto& t : run.silo_tau) t = comm.allreduce_sum(t);
  run.all.test_loss.assign(static_cast<size_t>(S), -1);
  const auto t = gather([](const HostedSilo& s) { return std::vector<double>{s.test_loss}; });
  for (int64_t j = 0; comm.is_root() && j < S; ++j) run.all.test_loss[static_cast<size_t>(j)] = t[static_cast<size_t>(j)].at(0);
  comm.barrier();
  ctx.clock.end(comm, "selection");
}

}  // namespace clues
