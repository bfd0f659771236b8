// Phase: selection. The threshold from the anchor scores: one global τ (the rule on the
// anchors under the server's moments, or on every silo's anchor scores pooled, rank 0,
// broadcast) or each silo's own (select.scope=silo); every hosted silo keeps its samples at
// or above its threshold and writes selected/<silo>.jsonl. The warm-up's final model (the
// global one, or under collab=merge the silo's own) also gives each sample's loss and IFD
// (the perplexity and IFD baselines), its DataInf influence when that row runs, and the
// held-out test loss. Then every silo's results are gathered on rank 0, in silo order.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "io/files.h"
#include "io/h5.h"
#include "lib/checkpoint.h"
#include "lib/collect.h"
#include "lib/datainf.h"
#include "lib/evaluate.h"
#include "lib/phases.h"
#include "lib/score.h"
#include "lib/select.h"

namespace clues {

void load_warmup_model(RunContext& ctx, RunState& run, const SiloEntry& silo) {
  if (ctx.cfg.collab == Collab::kMerge)
    unflatten_into(read_flat(H5File::open_read(ctx.files.silo_moments(ctx.cfg.train.rounds - 1, silo.name)), "/trainable",
                             run.named),
                   run.params);
  else
    unflatten_into(run.theta, run.params);
}

namespace {

// True when the comparison will need DataInf: its row is asked for and every silo has a test set.
bool wants_datainf(const Config& cfg) {
  const auto& rows = cfg.compare.rows;
  return std::find(rows.begin(), rows.end(), Row::kDatainf) != rows.end() && cfg.tests.size() == cfg.silos.size();
}

// Selection, selected/<silo>.jsonl and the warm-up model's signals for one hosted silo.
void select_silo(RunContext& ctx, RunState& run, HostedSilo& s) {
  const SelectConfig& sc = ctx.cfg.select;
  const int64_t batch = ctx.cfg.score.batch_size;
  const SiloData d = ctx.load(*s.entry);
  unflatten_into(run.theta0, run.params);
  s.base_loss = sample_losses(run.model, d.enc, batch);
  load_warmup_model(ctx, run, *s.entry);
  if (!s.entry->test.empty()) s.test_loss = mean(sample_losses(run.model, s.entry->test, batch));
  // Per-sample losses under the same model: the blend ranking, the perplexity and IFD baselines.
  auto losses = sample_loss_columns(run.model, d.enc, batch);
  s.loss = std::move(losses.mean);
  s.max_token_loss = std::move(losses.max_token);
  s.anchor_loss = sample_losses(run.model, ctx.anchor, batch);
  // The run's selection is its comparison row's (clues: by_score itself; blend: as many).
  s.by_score = select_by_score(s.score, s.tau, sc);
  s.selected = row_selection(ctx.cfg.selection_row(), {s.score, s.loss, s.ifd, s.datainf, sc}, s.by_score,
                             s.entry->labels, ctx.cfg, s.entry->index);
  std::string kept;
  for (size_t i = 0; i < d.records.size(); ++i)
    if (s.selected[i]) kept += d.records[i].raw + "\n";
  write_text_atomic(ctx.files.selected(s.entry->name), kept);
  std::vector<Encoded> alone;
  for (const auto& e : d.enc) alone.push_back(answer_alone(e, ctx.cfg.model.bos_id));
  s.ifd = ifd(s.loss, sample_losses(run.model, alone, batch));
  if (run.with_datainf) {
    std::vector<torch::Tensor> gbars;
    for (const auto& v : ctx.validation) gbars.push_back(mean_grad(run.model, v.samples, batch));
    s.datainf = datainf_influence(run.model, d.enc, domain_target(ctx, gbars, s.entry->name), batch, ctx.cfg.model.max_seq_len);
  }
}

}  // namespace

void select_samples(RunContext& ctx, RunState& run) {
  const Comm& comm = ctx.comm;
  const SelectConfig& sc = ctx.cfg.select;
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const auto owner = ctx.owner_fn();
  run.with_datainf = wants_datainf(ctx.cfg);
  if (sc.anchor_moments == Moments::kSilo)  // every silo's anchor scores, pooled in silo order
    for (const auto& a : collect<double>(comm, S, owner, [&](int64_t j) { return run.hosted(j).anchor_score; }))
      run.anchor_score.insert(run.anchor_score.end(), a.begin(), a.end());
  const Scope scope = ctx.cfg.threshold_scope();
  if (scope == Scope::kGlobal) {
    run.tau = comm.is_root() ? anchor_threshold(run.anchor_score, sc) : 0.0;
    comm.broadcast(&run.tau, sizeof run.tau);
  } else {
    run.tau = std::nan("");  // one per silo
  }
  for (auto& s : run.mine) {
    s.tau = scope == Scope::kSilo ? anchor_threshold(s.anchor_score, sc) : run.tau;
    select_silo(ctx, run, s);
  }

  // Per-silo vectors to rank 0, in silo order (labels too: evaluation-only ground truth).
  auto gather = [&](auto field) {
    using T = typename std::decay_t<decltype(field(run.mine.front()))>::value_type;
    return collect<T>(comm, S, owner, [&](int64_t j) { return field(run.hosted(j)); });
  };
  run.all.score = gather([](const HostedSilo& s) { return s.score; });
  run.all.selected = gather([](const HostedSilo& s) { return s.selected; });
  run.all.labels = gather([](const HostedSilo& s) { return s.entry->labels; });
  run.all.loss = gather([](const HostedSilo& s) { return s.loss; });
  run.all.ifd = gather([](const HostedSilo& s) { return s.ifd; });
  run.all.datainf = gather([](const HostedSilo& s) { return s.datainf; });
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
