// Phase: selection. The threshold from the anchor scores: one global τ (the rule on the
// anchors under the server's moments, or on every silo's anchor scores pooled, rank 0,
// broadcast) or each silo's own (select.scope=silo). Under the warm-up's final model (the
// mode's: the global one, or the silo's own) every hosted silo gets its per-sample signals
// (losses, IFD, DataInf when a rule reads it), then the run's selection rule
// (select.rank, lib/method/rules.h) picks and selected/<silo>.jsonl is written. Rank 0
// gathers what the comparison and the report need, in silo order.
#include <algorithm>
#include <cmath>
#include <map>

#include "io/files.h"
#include "lib/dist/collect.h"
#include "lib/method/datainf.h"
#include "lib/method/evaluate.h"
#include "lib/method/rules.h"
#include "lib/method/score.h"
#include "lib/method/select.h"
#include "lib/run/phases.h"

namespace clues {

namespace {

// The columns every run computes, in scores.h5's order, and those a rule asks for.
std::vector<std::string> signal_columns(const Config& cfg) {
  std::vector<std::string> cols = {signal::kScore, signal::kWarmupLoss, signal::kMaxTokenLoss, signal::kBaseLoss,
                                   signal::kIfd};
  if (rule_needs(cfg, signal::kDatainf)) cols.emplace_back(signal::kDatainf);
  return cols;
}

// Anchor losses already computed under the one final model (fedavg), per anchor set.
using AnchorLossCache = std::map<const std::vector<Encoded>*, std::vector<double>>;

// One hosted silo's signals under the base and the warm-up's final model.
void compute_signals(RunContext& ctx, Trainable& m, Collaboration& collab, const SiloData& d, SiloSelection& s,
                     bool with_datainf, AnchorLossCache& anchor_losses) {
  const int64_t batch = ctx.cfg.score.batch_size;
  const SiloEntry& e = ctx.silos[static_cast<size_t>(s.silo)];
  unflatten_into(m.theta0, m.params);
  s.signals[signal::kBaseLoss] = sample_losses(m.model, d.enc, batch);
  collab.load_final(s.silo);
  if (!e.test.empty()) s.test_loss = mean(sample_losses(m.model, e.test, batch));
  auto losses = sample_loss_columns(m.model, d.enc, batch);  // one pass: mean and largest token loss
  s.signals[signal::kWarmupLoss] = std::move(losses.mean);
  s.signals[signal::kMaxTokenLoss] = std::move(losses.max_token);
  const std::vector<Encoded>& anchors = ctx.anchors_of(e.name);
  if (!collab.one_final_model()) {
    s.anchor_loss = sample_losses(m.model, anchors, batch);
  } else {
    auto it = anchor_losses.find(&anchors);
    if (it == anchor_losses.end()) it = anchor_losses.emplace(&anchors, sample_losses(m.model, anchors, batch)).first;
    s.anchor_loss = it->second;
  }
  std::vector<Encoded> alone;
  for (const auto& x : d.enc) alone.push_back(answer_alone(x, ctx.cfg.model.bos_id));
  s.signals[signal::kIfd] = ifd(s.signals.at(signal::kWarmupLoss), sample_losses(m.model, alone, batch));
  if (with_datainf) {
    std::vector<std::string> domains;
    std::vector<torch::Tensor> gbars;
    for (const auto& v : ctx.validation) {
      domains.push_back(v.domain);
      gbars.push_back(mean_grad(m.model, v.samples, batch));
    }
    torch::Tensor target = domain_target(domains, gbars, e.name, ctx.cfg.score.other_domains);
    if (m.score_mask.defined()) target = target * m.score_mask;  // score.modules
    s.signals[signal::kDatainf] = datainf_influence(m.model, d.enc, target, batch, ctx.cfg.model.max_seq_len);
  }
}

// The threshold of every silo: one global τ (rank 0 from the anchor scores, broadcast;
// NaN under scope=silo) and each hosted silo's.
void thresholds(RunContext& ctx, Selection& out) {
  const SelectConfig& sc = ctx.cfg.select;
  const Scope scope = ctx.cfg.threshold_scope();
  if (scope == Scope::kGlobal) {
    out.tau = ctx.comm.is_root() ? anchor_threshold(out.anchor_score, sc) : 0.0;
    ctx.comm.broadcast(&out.tau, sizeof out.tau);
  } else {
    out.tau = std::nan("");  // one per silo
  }
}

}  // namespace

Selection select_samples(RunContext& ctx, Trainable& m, Collaboration& collab, Scores scores) {
  const Comm& comm = ctx.comm;
  const Config& cfg = ctx.cfg;
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const auto owner = ctx.owner_fn();
  auto scored = [&](int64_t j) -> SiloScores& {
    for (auto& s : scores.mine)
      if (s.silo == j) return s;
    throw Error("silo " + std::to_string(j) + " is not hosted by this rank");
  };
  Selection out;
  out.columns = signal_columns(cfg);
  if (cfg.select.anchor_moments == Moments::kSilo) {  // every silo's anchor scores, pooled in silo order
    for (const auto& a : collect<double>(comm, S, owner, [&](int64_t j) { return scored(j).anchor_score; }))
      out.anchor_score.insert(out.anchor_score.end(), a.begin(), a.end());
  } else {
    out.anchor_score = std::move(scores.server_anchor);
  }
  thresholds(ctx, out);
  const SelectionRule& rule = selection_rule(cfg.select.rank);
  const bool with_datainf = std::find(out.columns.begin(), out.columns.end(), signal::kDatainf) != out.columns.end();
  AnchorLossCache anchor_losses;
  for (auto& sc : scores.mine) {
    SiloSelection s;
    s.silo = sc.silo;
    const SiloEntry& e = ctx.silos[static_cast<size_t>(s.silo)];
    s.tau = cfg.threshold_scope() == Scope::kSilo ? anchor_threshold(sc.anchor_score, cfg.select) : out.tau;
    s.signals[signal::kScore] = std::move(sc.score);
    const SiloData d = ctx.load(e);
    compute_signals(ctx, m, collab, d, s, with_datainf, anchor_losses);
    s.by_score = select_by_score(s.signals.at(signal::kScore), s.tau, cfg.select);
    s.selected = rule_selection(rule, {s.signals, s.by_score, e.labels, cfg, s.silo});
    std::string kept;
    for (size_t i = 0; i < d.records.size(); ++i)
      if (s.selected[i]) kept += d.records[i].raw + "\n";
    write_text_atomic(ctx.files.selected(e.name), kept);
    out.mine.push_back(std::move(s));
  }

  // Per-silo vectors to rank 0, in silo order (labels too: evaluation-only ground truth).
  auto hosted = [&](int64_t j) -> const SiloSelection& {
    for (const auto& s : out.mine)
      if (s.silo == j) return s;
    throw Error("silo " + std::to_string(j) + " is not hosted by this rank");
  };
  out.signals.resize(comm.is_root() ? static_cast<size_t>(S) : 0);
  for (const auto& col : out.columns) {  // the columns some rule reads
    const auto& rules = selection_rules();
    if (std::none_of(rules.begin(), rules.end(), [&](const SelectionRule& r) {
          return std::find(r.needs.begin(), r.needs.end(), col) != r.needs.end();
        }))
      continue;
    const auto all = collect<double>(comm, S, owner, [&](int64_t j) { return hosted(j).signals.at(col); });
    for (size_t u = 0; u < out.signals.size(); ++u) out.signals[u][col] = all[u];
  }
  out.selected = collect<uint8_t>(comm, S, owner, [&](int64_t j) { return hosted(j).selected; });
  out.by_score = collect<uint8_t>(comm, S, owner, [&](int64_t j) { return hosted(j).by_score; });
  out.labels = collect<uint8_t>(comm, S, owner, [&](int64_t j) { return ctx.silos[static_cast<size_t>(j)].labels; });
  out.silo_tau.assign(static_cast<size_t>(S), 0.0);  // every rank: scores.h5 attributes
  for (const auto& s : out.mine) out.silo_tau[static_cast<size_t>(s.silo)] = s.tau;
  for (auto& t : out.silo_tau) t = comm.allreduce_sum(t);
  out.test_loss.assign(static_cast<size_t>(S), -1);
  const auto t = collect<double>(comm, S, owner, [&](int64_t j) { return std::vector<double>{hosted(j).test_loss}; });
  for (int64_t j = 0; comm.is_root() && j < S; ++j) out.test_loss[static_cast<size_t>(j)] = t[static_cast<size_t>(j)].at(0);
  comm.barrier();
  ctx.clock.end(comm, "selection");
  return out;
}

}  // namespace clues
