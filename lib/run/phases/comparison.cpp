// Phase: comparison (with --test for every silo). Each row of compare.rows is a selection
// rule (lib/method/rules.h) applied in every silo; the model is fine-tuned from the base
// on it by the collaboration mode, as the warm-up trained (same rounds, steps and seed;
// compare.seeds data orders) and evaluated on every silo's test set. The first fine-tuning
// of the run's own rule is returned as the run's final model. Resume: a row finished before a kill
// is read back from checkpoints/compare_<row>.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "io/failpoint.h"
#include "io/files.h"
#include "lib/dist/collect.h"
#include "lib/dist/log.h"
#include "lib/method/evaluate.h"
#include "lib/method/rules.h"
#include "lib/method/select.h"
#include "lib/run/phases.h"

namespace clues {

namespace {

double mean_of(const std::vector<RowSilo>& v, double RowSilo::*field) {
  double sum = 0;
  for (const auto& x : v) {
    if (x.*field < 0) return -1;
    sum += x.*field;
  }
  return v.empty() ? -1 : sum / static_cast<double>(v.size());
}

const char* kPhase = "compare";  // the silo state files' phase name

// The row's selection in each hosted silo, and its figures per fine-tuning seed (loss,
// perplexity, exact match of seed 0, then seed 1, ...) per hosted silo.
struct RowRun {
  std::map<int64_t, std::vector<uint8_t>> selection;
  std::map<int64_t, std::vector<double>> per_seed;
  double samples = 0;        // kept over all silos
  torch::Tensor first;       // the weights of the first fine-tuning
};

// Fine-tunes from the base on the rule's selection compare.seeds times and evaluates.
RowRun fine_tune_row(RunContext& ctx, Trainable& m, Collaboration& collab, const Selection& sel, const SelectionRule& rule) {
  const Config& cfg = ctx.cfg;
  RowRun rr;
  double kept = 0;
  for (const auto& s : sel.mine) {
    const auto& picked = rr.selection[s.silo] =
        rule_selection(rule, {s.signals, s.by_score, ctx.silos[static_cast<size_t>(s.silo)].labels, cfg, s.silo});
    kept += static_cast<double>(std::accumulate(picked.begin(), picked.end(), 0));
  }
  rr.samples = ctx.comm.allreduce_sum(kept);
  for (int64_t k = 0; k < cfg.compare.seeds; ++k) {
    const torch::Tensor th = collab.train_on_selection(rr.selection, cfg.seed + static_cast<uint64_t>(k), kPhase);
    if (k == 0) rr.first = th;
    unflatten_into(th, m.params);
    for (const auto& s : sel.mine) {
      const TestMetrics t = evaluate(m.model, ctx.silos[static_cast<size_t>(s.silo)].test, cfg.score.batch_size);
      auto& v = rr.per_seed[s.silo];
      v.insert(v.end(), {t.loss, t.perplexity, t.exact_match});
    }
  }
  if (rr.samples <= 0)
    for (auto& [j, v] : rr.per_seed) v.assign(static_cast<size_t>(3 * cfg.compare.seeds), -1.0);
  return rr;
}

// The row's figures on rank 0 from every silo's metrics and selection.
CompareRow row_figures(const Config& cfg, const Selection& sel, const SelectionRule& rule,
                       const std::vector<std::vector<double>>& metrics, const std::vector<std::vector<uint8_t>>& row_sel,
                       int64_t K) {
  const auto S = static_cast<int64_t>(metrics.size());
  CompareRow cr;
  cr.name = rule.name;
  std::vector<std::vector<double>> ranking(static_cast<size_t>(S));
  for (int64_t j = 0; j < S; ++j) {
    const size_t u = static_cast<size_t>(j);
    ranking[u] = rule_ranking(rule, {sel.signals[u], sel.by_score[u], sel.labels[u], cfg, j});
    RowSilo rs;
    rs.kept = std::accumulate(row_sel[u].begin(), row_sel[u].end(), int64_t{0});
    rs.test_loss = rs.perplexity = rs.exact_match = 0;
    for (int64_t k = 0; k < K; ++k) {
      rs.test_loss += metrics[u][static_cast<size_t>(3 * k)] / static_cast<double>(K);
      rs.perplexity += metrics[u][static_cast<size_t>(3 * k + 1)] / static_cast<double>(K);
      rs.exact_match += metrics[u][static_cast<size_t>(3 * k + 2)] / static_cast<double>(K);
    }
    cr.silos.push_back(rs);
  }
  if (K > 1) {  // spread of the macro test loss over the fine-tuning seeds
    std::vector<double> macro(static_cast<size_t>(K), 0.0);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < S; ++j)
        macro[static_cast<size_t>(k)] += metrics[static_cast<size_t>(j)][static_cast<size_t>(3 * k)] / static_cast<double>(S);
    const double mu = mean(macro);
    double var = 0;
    for (double x : macro) var += (x - mu) * (x - mu);
    cr.macro_loss_sd = std::sqrt(var / static_cast<double>(K - 1));
  }
  fill_detection(cr, ranking, row_sel, sel.labels,
                 std::all_of(ranking.begin(), ranking.end(), [](const auto& r) { return !r.empty(); }));
  cr.macro_loss = mean_of(cr.silos, &RowSilo::test_loss);
  cr.macro_perplexity = mean_of(cr.silos, &RowSilo::perplexity);
  cr.macro_exact_match = mean_of(cr.silos, &RowSilo::exact_match);
  return cr;
}

}  // namespace

Comparison compare_selections(RunContext& ctx, Trainable& m, Collaboration& collab, const Selection& sel) {
  const Comm& comm = ctx.comm;
  Comparison out;
  auto every = [&](auto pred) { return comm.all_ok(std::all_of(sel.mine.begin(), sel.mine.end(), pred)); };
  auto entry = [&](const SiloSelection& s) -> const SiloEntry& { return ctx.silos[static_cast<size_t>(s.silo)]; };
  const bool have_tests = every([&](const SiloSelection& s) { return !entry(s).test.empty(); });
  const bool labelled = every([&](const SiloSelection& s) { return !entry(s).labels.empty(); });
  auto rows = compare_rows(ctx.cfg.compare, labelled);
  if (!rows.empty() && !have_tests) {
    log0(comm, "comparison skipped: it needs a clean held-out set for every silo (--test NAME=PATH)");
    rows.clear();
  }
  const auto& table = selection_rules();
  const auto papers = std::find_if(table.begin(), table.end(), [](const SelectionRule& r) { return r.papers; });
  if (!rows.empty() && papers != table.end() && std::find(rows.begin(), rows.end(), papers->name) == rows.end()) {
    log0(comm, "comparison: the paper's rule (" + papers->name + ") is always one of the rows");
    rows.insert(rows.begin(), papers->name);
  }
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const int64_t K = ctx.cfg.compare.seeds;
  const double t_cmp = elapsed_s();
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    const SelectionRule& rule = selection_rule(rows[ri]);
    const std::string saved = ctx.files.compare_row(rule.name);
    int done = comm.is_root() && file_exists(saved) ? 1 : 0;
    comm.broadcast(&done, sizeof done);
    if (done) {
      if (comm.is_root()) out.rows.push_back(read_compare_row(saved));
      log0(comm, "resume: comparison row " + rule.name + " already done");
      continue;
    }
    const RowRun rr = fine_tune_row(ctx, m, collab, sel, rule);
    if (rule.name == ctx.cfg.select.rank) out.final_theta = rr.first;
    const auto metrics = collect<double>(comm, S, ctx.owner_fn(), [&](int64_t j) { return rr.per_seed.at(j); });
    const auto row_sel = collect<uint8_t>(comm, S, ctx.owner_fn(), [&](int64_t j) { return rr.selection.at(j); });
    if (comm.is_root()) {
      out.rows.push_back(row_figures(ctx.cfg, sel, rule, metrics, row_sel, K));
      write_compare_row(saved, out.rows.back());
    }
    failpoint("comparison_row", comm.rank());
    const double dt = elapsed_s() - t_cmp;
    char buf[240];
    std::snprintf(buf, sizeof buf, "comparison row %zu/%zu (%s): %.0f samples, macro test loss %.4f, %s elapsed, ETA %s",
                  ri + 1, rows.size(), rule.name.c_str(), rr.samples, comm.is_root() ? out.rows.back().macro_loss : 0.0,
                  format_seconds(dt).c_str(),
                  format_seconds(dt / static_cast<double>(ri + 1) * static_cast<double>(rows.size() - ri - 1)).c_str());
    log0(comm, buf);
  }
  comm.barrier();
  ctx.clock.end(comm, "comparison");
  return out;
}

}  // namespace clues
