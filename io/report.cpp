// report.json, comparison rows and comparison.md (io/report.h).
#include "io/report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "io/error.h"
#include "io/files.h"
#include "io/jsonl.h"

// std::optional as null-or-value (nlohmann 3.11 has no built-in mapping for it).
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v) j = *v; else j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null()) v.reset(); else v = j.get<T>();
  }
};
}  // namespace nlohmann

namespace clues {

// A finished row, field by field (checkpoints/compare_<row>.json).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RowSilo, kept, test_loss, perplexity, exact_match, auroc, precision, recall, f1)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CompareRow, name, silos, macro_loss, macro_perplexity, macro_exact_match,
                                   macro_loss_sd, pooled_auroc, pooled_precision, pooled_recall, pooled_f1)

namespace {

using Figure = std::optional<double>;  // null in report.json when not available
Figure figure(double v) { return v < 0 || std::isnan(v) ? Figure() : Figure(v); }

// report.json's records: one struct per JSON object, keys as named here.
struct Detection {
  Figure auroc, precision, recall, f1;
};
struct Labels {
  double bad_share = 0;
  Figure auroc, precision, recall, f1;
};
struct ReportSilo {
  int64_t samples = 0, kept = 0;
  Figure threshold, test_loss;
  int host_rank = 0;
  std::optional<Labels> labels;
};
struct ReportRowSilo {
  int64_t kept = 0;
  Figure test_loss, perplexity, exact_match, auroc, precision, recall, f1;
};
struct ReportRow {
  Figure macro_test_loss, macro_test_loss_sd, macro_perplexity, macro_exact_match;
  Detection pooled;
  std::map<std::string, ReportRowSilo> silos;
};
struct ReportAnchor {
  int64_t samples = 0;
  double mean_score = 0;
};
struct ReportSelection {
  std::string rule, origin, description;
  Figure loss_weight;
};
struct Report {
  Figure threshold;
  ReportSelection selection;
  std::string collab, threshold_mode, anchor_moments, scope, rank, engine, precondition;
  int ranks = 1;
  int64_t checkpoints = 0, trainable_params = 0, truncated_samples = 0;
  double sample_silos = 0, local_epochs = 0;
  std::map<std::string, double> peak_rss_mib, peak_device_mib;  // max, min over the ranks
  ReportAnchor anchor;
  std::map<std::string, ReportSilo> silos;
  std::optional<Detection> pooled;
  std::map<std::string, ReportRow> comparison;
  std::map<std::string, double> timings_s, communication_s, communication_bytes;
  std::vector<std::string> warnings;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Detection, auroc, precision, recall, f1)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Labels, bad_share, auroc, precision, recall, f1)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportSilo, samples, kept, threshold, test_loss, host_rank, labels)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportRowSilo, kept, test_loss, perplexity, exact_match, auroc, precision, recall, f1)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportRow, macro_test_loss, macro_test_loss_sd, macro_perplexity, macro_exact_match,
                                   pooled, silos)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportAnchor, samples, mean_score)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportSelection, rule, origin, description, loss_weight)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Report, collab, threshold, selection, threshold_mode, anchor_moments, scope, rank, engine, precondition, ranks,
                                   checkpoints, sample_silos, local_epochs, peak_rss_mib, peak_device_mib, trainable_params, truncated_samples, anchor, silos, pooled, comparison,
                                   timings_s, communication_s, communication_bytes, warnings)

Report make_report(const RunSummary& s, const RunFacts& facts) {
  Report r;
  r.threshold = std::isnan(s.threshold) ? Figure() : Figure(s.threshold);
  r.selection = {s.selection.rule, s.selection.origin, s.selection.description, figure(s.selection.loss_weight)};
  r.threshold_mode = facts.threshold_mode;
  r.anchor_moments = facts.anchor_moments;
  r.collab = facts.collab;
  r.scope = facts.scope;
  r.rank = facts.rank;
  r.engine = facts.engine;
  r.precondition = facts.precondition;
  r.ranks = facts.ranks;
  r.checkpoints = facts.checkpoints;
  r.sample_silos = facts.sample_silos;
  r.local_epochs = facts.local_epochs;
  r.peak_rss_mib = {{"max", facts.peak_rss_mib_max}, {"min", facts.peak_rss_mib_min}};
  r.peak_device_mib = {{"max", facts.peak_device_mib_max}, {"min", facts.peak_device_mib_min}};
  r.trainable_params = facts.trainable_params;
  r.truncated_samples = facts.truncated_samples;
  r.anchor = {facts.anchor_samples, facts.anchor_mean_score};
  for (size_t u = 0; u < s.silos.size(); ++u) {
    const SiloSummary& ss = s.silos[u];
    ReportSilo& j = r.silos[ss.name];
    j.samples = ss.samples;
    j.kept = ss.kept;
    j.threshold = std::isnan(ss.threshold) ? Figure() : Figure(ss.threshold);
    j.host_rank = u < facts.host_rank.size() ? facts.host_rank[u] : 0;
    j.test_loss = figure(ss.test_loss);
    if (ss.bad_share >= 0) j.labels = Labels{ss.bad_share, figure(ss.auroc), ss.precision, ss.recall, ss.f1};
  }
  if (s.pooled_auroc >= 0)
    r.pooled = Detection{s.pooled_auroc, s.pooled_precision, s.pooled_recall, s.pooled_f1};
  for (const auto& cr : s.comparison) {
    ReportRow& row = r.comparison[cr.name];
    row.macro_test_loss = figure(cr.macro_loss);
    row.macro_test_loss_sd = figure(cr.macro_loss_sd);
    row.macro_perplexity = figure(cr.macro_perplexity);
    row.macro_exact_match = figure(cr.macro_exact_match);
    row.pooled = {figure(cr.pooled_auroc), figure(cr.pooled_precision), figure(cr.pooled_recall), figure(cr.pooled_f1)};
    for (size_t u = 0; u < cr.silos.size() && u < s.silos.size(); ++u) {
      const RowSilo& x = cr.silos[u];
      row.silos[s.silos[u].name] = {x.kept,           figure(x.test_loss), figure(x.perplexity), figure(x.exact_match),
                                    figure(x.auroc),  figure(x.precision), figure(x.recall),     figure(x.f1)};
    }
  }
  r.timings_s = facts.timings_s;
  r.communication_s = facts.communication_s;
  r.communication_bytes = facts.communication_bytes;
  r.warnings = facts.warnings;
  return r;
}

}  // namespace

void write_report(const std::string& path, const RunSummary& s, const RunFacts& facts) {
  nlohmann::json j = make_report(s, facts);
  if (s.comparison.empty()) j.erase("comparison");
  if (j["pooled"].is_null()) j.erase("pooled");
  for (auto& [name, silo] : j["silos"].items())  // as before: a silo without labels or test set has no such key
    for (const char* k : {"labels", "test_loss"})
      if (silo[k].is_null()) silo.erase(k);
  write_text_atomic(path, j.dump(2) + "\n");
}

void write_compare_row(const std::string& path, const CompareRow& row) {
  write_text_atomic(path, nlohmann::json(row).dump() + "\n");
}

CompareRow read_compare_row(const std::string& path) {
  try {
    return nlohmann::json::parse(read_text(path)).get<CompareRow>();
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path + " is not a finished comparison row (" + e.what() +
                  "): delete it to redo the row, or pass --overwrite to start afresh");
  }
}

std::string comparison_markdown(const std::vector<CompareRow>& rows, const std::vector<std::string>& silo_names) {
  auto f = [](double v, const char* fmt) {
    if (v < 0 || std::isnan(v)) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, fmt, v);
    return std::string(b);
  };
  const CompareRow* full = nullptr;
  const CompareRow* oracle = nullptr;
  for (const auto& r : rows) {
    if (r.name == "full") full = &r;
    if (r.name == "oracle") oracle = &r;
  }
  const bool gap = full && oracle && full->macro_loss > oracle->macro_loss && oracle->macro_loss >= 0;
  std::ostringstream os;
  os << "| row | kept | macro test loss | macro perplexity | macro exact match | pooled AUROC | pooled precision | "
        "pooled recall | pooled F1 |" << (gap ? " gap closed |" : "") << "\n";
  os << "|---|---|---|---|---|---|---|---|---|" << (gap ? "---|" : "") << "\n";
  for (const auto& r : rows) {
    int64_t kept = 0;
    for (const auto& s : r.silos) kept += s.kept;
    os << "| " << r.name << " | " << kept << " | " << f(r.macro_loss, "%.4f")
       << (r.macro_loss_sd >= 0 ? " ± " + f(r.macro_loss_sd, "%.4f") : std::string()) << " | " << f(r.macro_perplexity, "%.3f")
       << " | " << f(r.macro_exact_match, "%.3f") << " | " << f(r.pooled_auroc, "%.3f") << " | "
       << f(r.pooled_precision, "%.3f") << " | " << f(r.pooled_recall, "%.3f") << " | " << f(r.pooled_f1, "%.3f") << " |";
    if (gap) {
      const double g = (full->macro_loss - r.macro_loss) / (full->macro_loss - oracle->macro_loss);
      char b[32];
      std::snprintf(b, sizeof b, " %.0f%% |", 100.0 * g);
      os << (r.macro_loss < 0 ? std::string(" - |") : std::string(b));
    }
    os << "\n";
  }
  os << "\nPer silo (test loss / exact match / kept / AUROC):\n\n| row |";
  for (const auto& n : silo_names) os << " " << n << " |";
  os << "\n|---|";
  for (size_t i = 0; i < silo_names.size(); ++i) os << "---|";
  os << "\n";
  for (const auto& r : rows) {
    os << "| " << r.name << " |";
    for (const auto& s : r.silos)
      os << " " << f(s.test_loss, "%.4f") << " / " << f(s.exact_match, "%.3f") << " / " << s.kept << " / "
         << f(s.auroc, "%.3f") << " |";
    os << "\n";
  }
  return os.str();
}

}  // namespace clues
