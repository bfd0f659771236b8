// Phase: comparison (with --test for every silo). Each row of compare.rows is a selection
// in every silo (CLUES's, all, random, perplexity, IFD, DataInf, fixed ratio, oracle); the
// model is fine-tuned from the base on it as the warm-up trained (same rounds, steps and
// seed; compare.seeds data orders; fedavg: averaged every round, merge: each silo alone and
// merged once) and evaluated on every silo's test set. Resume: a row finished before a kill
// is read back from checkpoints/compare_<row>.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "io/error.h"
#include "io/files.h"
#include "lib/collect.h"
#include "lib/evaluate.h"
#include "lib/log.h"
#include "lib/merge.h"
#include "lib/phases.h"
#include "lib/select.h"

namespace clues {

std::vector<uint8_t> row_selection(Row row, const SiloSignals& sig, const std::vector<uint8_t>& clues_selected,
                                   const std::vector<uint8_t>& labels, const Config& cfg, int64_t silo) {
  const auto& score = sig.score;
  const int64_t n = static_cast<int64_t>(score.size());
  const int64_t k = std::accumulate(clues_selected.begin(), clues_selected.end(), int64_t{0});
  switch (row) {
    case Row::kClues: return clues_selected;
    case Row::kBlend: return select_blend(score, sig.loss, k, sig.select.loss_weight);
    case Row::kFull: return std::vector<uint8_t>(static_cast<size_t>(n), 1);
    case Row::kRandom: return select_random(n, k, cfg.seed, silo);
    case Row::kPerplexity: return select_lowest_loss(sig.loss, k);
    case Row::kIfd: return select_ifd(sig.ifd, k);
    case Row::kDatainf:
      if (sig.datainf.size() != score.size()) throw Error("the datainf row has no influence values for silo " + std::to_string(silo));
      return select_lowest_loss(sig.datainf, k);  // the most helpful: lowest influence on the validation loss
    case Row::kRatio: return select_top_ratio(score, cfg.select.keep_ratio);
    case Row::kOracle: {
      if (labels.size() != score.size()) throw InputError("the oracle row needs --labels for every silo");
      std::vector<uint8_t> out(labels.size());
      for (size_t i = 0; i < labels.size(); ++i) out[i] = labels[i] == 0;
      return out;
    }
  }
  throw InputError("unknown comparison row " + to_string(row));
}

std::vector<double> row_ranking(Row row, const SiloSignals& sig) {
  if (row == Row::kBlend) return blend_ranking(sig.score, sig.loss, sig.select.loss_weight);
  if (row == Row::kClues || row == Row::kRatio) return sig.score;
  if (row == Row::kPerplexity) return negated(sig.loss);
  if (row == Row::kDatainf) return negated(sig.datainf);
  if (row == Row::kIfd) return ifd_ranking(sig.ifd);
  return {};
}

namespace {

double nan_to(double v, double fallback) { return std::isnan(v) ? fallback : v; }

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
  double samples = 0;  // kept over all silos
};

// collab=merge: every hosted silo with kept samples trains alone from the base for the
// warm-up's rounds; rank 0 gathers the trained weights (one silo's at a time from its
// rank), merges them once (merge.*) and sends the result to every rank.
torch::Tensor merge_silos(RunContext& ctx, RunState& run, const std::vector<LocalSilo>& locals,
                          const std::vector<double>& counts, uint64_t seed) {
  const Config& cfg = ctx.cfg;
  for (int64_t r = 0; r < cfg.train.rounds; ++r)
    agree_on_errors(ctx.comm, [&] {  // divergence on any rank: one message, every rank stops
      for (const auto& l : locals)
        if (counts[static_cast<size_t>(l.index)] > 0) solo_round(ctx.comm, run.model, l, cfg.train, seed, r);
    });
  std::map<int64_t, const LocalSilo*> hosted;
  for (const auto& l : locals) hosted[l.index] = &l;
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const auto trained = collect<float>(ctx.comm, S, ctx.owner_fn(), [&](int64_t j) {
    if (counts[static_cast<size_t>(j)] <= 0) return std::vector<float>();  // took no part
    const auto t = read_silo_state_flat(hosted.at(j)->state, run.P).narrow(0, 0, run.P).contiguous();
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + run.P);
  });
  auto merged = torch::empty({run.P}, torch::kFloat32);
  if (ctx.comm.is_root()) {
    std::vector<torch::Tensor> thetas;
    const auto w = merge_weights(cfg.merge, counts);
    std::vector<double> weights;
    for (int64_t j = 0; j < S; ++j)
      if (counts[static_cast<size_t>(j)] > 0) {
        thetas.push_back(torch::from_blob(const_cast<float*>(trained[static_cast<size_t>(j)].data()), {run.P}, torch::kFloat32));
        weights.push_back(w[static_cast<size_t>(j)]);
      }
    const double scaling = cfg.model.lora_alpha / static_cast<double>(cfg.model.lora_rank);
    merged.copy_(merge_trained(cfg.merge, run.model->trainable(), thetas, run.theta0.to(torch::kCPU), weights, scaling));
  }
  ctx.comm.broadcast(merged.data_ptr<float>(), run.P * static_cast<int64_t>(sizeof(float)));
  return merged.to(run.theta0.device());
}

}  // namespace

torch::Tensor train_on_selection(RunContext& ctx, RunState& run, const std::map<int64_t, std::vector<uint8_t>>& selection,
                                 uint64_t seed, const char* phase) {
  const Config& cfg = ctx.cfg;
  std::vector<double> counts(ctx.silos.size(), 0.0);
  std::vector<LocalSilo> locals;
  for (const auto& s : run.mine) {
    const int64_t j = s.entry->index;
    const auto& picked = selection.at(j);
    counts[static_cast<size_t>(j)] = static_cast<double>(std::accumulate(picked.begin(), picked.end(), 0));
    // The selected subset of the silo, loaded when the silo trains.
    locals.push_back({j, [&ctx, &picked, e = s.entry] {
                        std::vector<Encoded> subset;
                        auto all = ctx.load(*e).enc;
                        for (size_t k = 0; k < all.size(); ++k)
                          if (picked[k]) subset.push_back(std::move(all[k]));
                        return subset;
                      },
                      ctx.files.silo_state(phase, s.entry->name), s.entry->name});
  }
  for (auto& c : counts) c = ctx.comm.allreduce_sum(c);
  const AdamState fresh = AdamState::zeros_like(run.params);
  for (const auto& l : locals) save_silo_state(l.state, run.theta0, fresh);  // a fresh Adam state per fine-tuning
  torch::Tensor th = run.theta0;
  if (std::accumulate(counts.begin(), counts.end(), 0.0) > 0) {
    if (cfg.collab == Collab::kMerge)
      th = merge_silos(ctx, run, locals, counts, seed);
    else
      for (int64_t r = 0; r < cfg.train.rounds; ++r)
        th = federated_round(ctx.comm, run.model, locals, counts, ctx.owner_fn(), th, cfg.train, seed, r, false).theta;
  }
  for (const auto& s : run.mine) ctx.files.remove_silo_state(phase, s.entry->name);
  return th;
}

namespace {

// Fine-tunes from the base on the row's selection compare.seeds times and evaluates. The
// first fine-tuning of the row that is the run's selection (clues or blend, select.rank) is
// kept as the run's final model (run.final_theta).
RowRun fine_tune_row(RunContext& ctx, RunState& run, Row row) {
  const Config& cfg = ctx.cfg;
  RowRun rr;
  double kept = 0;
  for (const auto& s : run.mine) {
    const int64_t j = s.entry->index;
    const auto& picked = rr.selection[j] =
        row_selection(row, {s.score, s.loss, s.ifd, s.datainf, cfg.select}, s.by_score, s.entry->labels, cfg, j);
    kept += static_cast<double>(std::accumulate(picked.begin(), picked.end(), 0));
  }
  rr.samples = ctx.comm.allreduce_sum(kept);
  for (int64_t k = 0; k < cfg.compare.seeds; ++k) {
    const torch::Tensor th = train_on_selection(ctx, run, rr.selection, cfg.seed + static_cast<uint64_t>(k), kPhase);
    if (row == cfg.selection_row() && k == 0) run.final_theta = th;
    unflatten_into(th, run.params);
    for (const auto& s : run.mine) {
      const TestMetrics m = evaluate(run.model, s.entry->test, cfg.score.batch_size);
      auto& v = rr.per_seed[s.entry->index];
      v.insert(v.end(), {m.loss, m.perplexity, m.exact_match});
    }
  }
  if (rr.samples <= 0)
    for (auto& [j, v] : rr.per_seed) v.assign(static_cast<size_t>(3 * cfg.compare.seeds), -1.0);
  return rr;
}

// The row's figures on rank 0 from every silo's metrics and selection.
CompareRow row_figures(const RunState& run, const SelectConfig& select, Row row, const std::vector<std::vector<double>>& metrics,
                       const std::vector<std::vector<uint8_t>>& row_sel, int64_t K) {
  const auto S = static_cast<int64_t>(metrics.size());
  CompareRow cr;
  cr.name = to_string(row);
  std::vector<std::vector<double>> ranking(static_cast<size_t>(S));
  for (int64_t j = 0; j < S; ++j) {
    const size_t u = static_cast<size_t>(j);
    ranking[u] = row_ranking(row, {run.all.score[u], run.all.loss[u], run.all.ifd[u], run.all.datainf[u], select});
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
  fill_detection(cr, ranking, row_sel, run.all.labels,
                 std::all_of(ranking.begin(), ranking.end(), [](const auto& r) { return !r.empty(); }));
  cr.macro_loss = mean_of(cr.silos, &RowSilo::test_loss);
  cr.macro_perplexity = mean_of(cr.silos, &RowSilo::perplexity);
  cr.macro_exact_match = mean_of(cr.silos, &RowSilo::exact_match);
  return cr;
}

}  // namespace

void fill_detection(CompareRow& cr, const std::vector<std::vector<double>>& ranking,
                    const std::vector<std::vector<uint8_t>>& sel, const std::vector<std::vector<uint8_t>>& labels,
                    bool ranked) {
  std::vector<double> pr;
  std::vector<uint8_t> ps, pl;
  bool all = true;
  for (size_t u = 0; u < cr.silos.size(); ++u) {
    if (labels[u].empty()) {
      all = false;
      continue;
    }
    auto& rs = cr.silos[u];
    if (!ranking[u].empty()) rs.auroc = nan_to(auroc(ranking[u], labels[u]), -1);
    const Detection d = detection(sel[u], labels[u]);
    rs.precision = d.precision;
    rs.recall = d.recall;
    rs.f1 = d.f1;
    pr.insert(pr.end(), ranking[u].begin(), ranking[u].end());
    ps.insert(ps.end(), sel[u].begin(), sel[u].end());
    pl.insert(pl.end(), labels[u].begin(), labels[u].end());
  }
  if (!all || pl.empty()) return;
  if (ranked) cr.pooled_auroc = nan_to(auroc(pr, pl), -1);
  const Detection d = detection(ps, pl);
  cr.pooled_precision = d.precision;
  cr.pooled_recall = d.recall;
  cr.pooled_f1 = d.f1;
}

void compare_selections(RunContext& ctx, RunState& run) {
  const Comm& comm = ctx.comm;
  auto every = [&](auto pred) { return comm.all_ok(std::all_of(run.mine.begin(), run.mine.end(), pred)); };
  const bool have_tests = every([](const HostedSilo& s) { return !s.entry->test.empty(); });
  const bool labelled = every([](const HostedSilo& s) { return !s.entry->labels.empty(); });
  auto rows = compare_rows(ctx.cfg.compare, labelled);
  if (!rows.empty() && !have_tests) {
    log0(comm, "comparison skipped: it needs a clean held-out set for every silo (--test NAME=PATH)");
    rows.clear();
  }
  const auto S = static_cast<int64_t>(ctx.silos.size());
  const int64_t K = ctx.cfg.compare.seeds;
  const double t_cmp = elapsed_s();
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    const Row row = rows[ri];
    const std::string saved = ctx.files.compare_row(to_string(row));
    int done = comm.is_root() && file_exists(saved) ? 1 : 0;
    comm.broadcast(&done, sizeof done);
    if (done) {
      if (comm.is_root()) run.summary.comparison.push_back(read_compare_row(saved));
      log0(comm, "resume: comparison row " + to_string(row) + " already done");
      continue;
    }
    const RowRun rr = fine_tune_row(ctx, run, row);
    const auto metrics = collect<double>(comm, S, ctx.owner_fn(), [&](int64_t j) { return rr.per_seed.at(j); });
    const auto row_sel = collect<uint8_t>(comm, S, ctx.owner_fn(), [&](int64_t j) { return rr.selection.at(j); });
    if (comm.is_root()) {
      run.summary.comparison.push_back(row_figures(run, ctx.cfg.select, row, metrics, row_sel, K));
      write_compare_row(saved, run.summary.comparison.back());
    }
    failpoint("comparison_row", comm.rank());
    const double dt = elapsed_s() - t_cmp;
    char buf[240];
    std::snprintf(buf, sizeof buf, "comparison row %zu/%zu (%s): %.0f samples, macro test loss %.4f, %s elapsed, ETA %s",
                  ri + 1, rows.size(), to_string(row).c_str(), rr.samples,
                  comm.is_root() ? run.summary.comparison.back().macro_loss : 0.0, format_seconds(dt).c_str(),
                  format_seconds(dt / static_cast<double>(ri + 1) * static_cast<double>(rows.size() - ri - 1)).c_str());
    log0(comm, buf);
  }
  comm.barrier();
  ctx.clock.end(comm, "comparison");
}

}  // namespace clues
