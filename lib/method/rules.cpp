// The table of selection rules (lib/method/rules.h) and the detection figures of a rule's
// selection.
#include "lib/method/rules.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lib/method/select.h"

namespace clues {

int64_t RuleInput::k() const { return std::accumulate(by_score.begin(), by_score.end(), int64_t{0}); }

const char* to_string(Picks p) {
  switch (p) {
    case Picks::kThreshold: return "threshold";
    case Picks::kCount: return "count";
    case Picks::kShare: return "share";
    case Picks::kAll: return "all";
    case Picks::kLabels: return "labels";
  }
  return "?";
}

namespace {

using signal::kDatainf;
using signal::kIfd;
using signal::kScore;
using signal::kWarmupLoss;

std::vector<SelectionRule> make_rules() {
  return {
      {"clues", "every sample scoring at least the threshold", {kScore}, Picks::kThreshold, false, false,
       [](const RuleInput& in) { return in.signals.at(kScore); },
       [](const RuleInput& in) { return in.by_score; }, true},
      {"blend", "as many as clues keeps, the highest by (1 - select.loss_weight) x the CLUES score's percentile + "
                "select.loss_weight x the percentile of the negated warm-up loss, both within the silo",
       {kScore, kWarmupLoss}, Picks::kCount, false, false,
       [](const RuleInput& in) {
         return blend_ranking(in.signals.at(kScore), in.signals.at(kWarmupLoss), in.cfg.select.loss_weight);
       },
       [](const RuleInput& in) {
         return select_blend(in.signals.at(kScore), in.signals.at(kWarmupLoss), in.k(), in.cfg.select.loss_weight);
       }},
      {"full", "every sample (the mixed data)", {}, Picks::kAll, true, false, nullptr,
       [](const RuleInput& in) { return std::vector<uint8_t>(static_cast<size_t>(in.n()), 1); }},
      {"random", "as many as clues keeps, drawn uniformly", {}, Picks::kCount, true, false, nullptr,
       [](const RuleInput& in) { return select_random(in.n(), in.k(), in.cfg.seed, in.silo); }},
      {"perplexity", "as many as clues keeps, the lowest warm-up losses", {kWarmupLoss}, Picks::kCount, true, false,
       [](const RuleInput& in) { return negated(in.signals.at(kWarmupLoss)); },
       [](const RuleInput& in) { return select_lowest_loss(in.signals.at(kWarmupLoss), in.k()); }},
      {"ifd", "at most as many as clues keeps, the highest IFD below 1", {kIfd}, Picks::kCount, true, false,
       [](const RuleInput& in) { return ifd_ranking(in.signals.at(kIfd)); },
       [](const RuleInput& in) { return select_ifd(in.signals.at(kIfd), in.k()); }},
      {"datainf", "as many as clues keeps, the lowest DataInf influence (the most helpful)", {kDatainf}, Picks::kCount,
       true, false, [](const RuleInput& in) { return negated(in.signals.at(kDatainf)); },
       [](const RuleInput& in) { return select_lowest_loss(in.signals.at(kDatainf), in.k()); }},
      {"ratio", "the select.keep_ratio share of each silo with the highest scores", {kScore}, Picks::kShare, true, false,
       [](const RuleInput& in) { return in.signals.at(kScore); },
       [](const RuleInput& in) { return select_top_ratio(in.signals.at(kScore), in.cfg.select.keep_ratio); }},
      {"oracle", "the clean samples (needs --labels)", {}, Picks::kLabels, true, true, nullptr,
       [](const RuleInput& in) {
         if (static_cast<int64_t>(in.labels.size()) != in.n())
           throw InputError("the oracle row needs --labels for every silo");
         std::vector<uint8_t> out(in.labels.size());
         for (size_t i = 0; i < in.labels.size(); ++i) out[i] = in.labels[i] == 0;
         return out;
       }},
  };
}

std::vector<SelectionRule>& table() {
  static std::vector<SelectionRule> rules = make_rules();
  return rules;
}

std::string rule_names() {
  std::string out;
  for (const auto& r : table()) out += (out.empty() ? "" : ", ") + r.name;
  return out;
}

bool asked(const CompareConfig& cc, const std::string& name) {
  return std::find(cc.rows.begin(), cc.rows.end(), "all") != cc.rows.end() ||
         std::find(cc.rows.begin(), cc.rows.end(), name) != cc.rows.end();
}

double nan_to(double v, double fallback) { return std::isnan(v) ? fallback : v; }

}  // namespace

const std::vector<SelectionRule>& selection_rules() { return table(); }

void add_selection_rule(SelectionRule rule) {
  for (const auto& r : table())
    if (r.name == rule.name) throw Error("selection rule \"" + rule.name + "\" is already in the table");
  if (!rule.select) throw Error("selection rule \"" + rule.name + "\" has no selection");
  table().push_back(std::move(rule));
}

const SelectionRule& selection_rule(const std::string& name) {
  for (const auto& r : table())
    if (r.name == name) return r;
  throw InputError("\"" + name + "\" is no selection rule; the rules are " + rule_names());
}

SelectionInfo describe_selection(const Config& cfg) {
  const SelectionRule& r = selection_rule(cfg.select.rank);
  SelectionInfo info;
  info.rule = r.name;
  info.origin = r.papers ? "the paper's rule" : r.baseline ? "a baseline" : "this project's rule";
  info.description = r.help;
  if (r.name == "blend") info.loss_weight = cfg.select.loss_weight;
  return info;
}

std::vector<std::string> compare_rows(const CompareConfig& cc, bool labelled) {
  std::vector<std::string> out;
  for (const auto& r : table())
    if (asked(cc, r.name) && (!r.needs_labels || labelled)) out.push_back(r.name);
  return out;
}

void check_rule_names(const Config& cfg) {
  for (const auto& name : cfg.compare.rows)
    if (name != "all") {
      try {
        selection_rule(name);
      } catch (const InputError& e) {
        throw InputError(std::string("compare.rows: ") + e.what() + " (or all, none)");
      }
    }
  try {
    if (selection_rule(cfg.select.rank).needs_labels)
      throw InputError("\"" + cfg.select.rank + "\" needs the labels, which are for evaluation only: pick a rule that "
                       "selects without them (blend, clues, perplexity, ...)");
  } catch (const InputError& e) {
    throw InputError(std::string("select.rank: ") + e.what());
  }
}

bool rule_needs(const Config& cfg, const std::string& column) {
  auto reads = [&](const SelectionRule& r) { return std::find(r.needs.begin(), r.needs.end(), column) != r.needs.end(); };
  if (reads(selection_rule(cfg.select.rank))) return true;
  if (cfg.tests.size() != cfg.silos.size()) return false;  // no comparison runs
  for (const auto& name : compare_rows(cfg.compare, true))
    if (reads(selection_rule(name))) return true;
  return false;
}

std::vector<uint8_t> rule_selection(const SelectionRule& rule, const RuleInput& in) { return rule.select(in); }

std::vector<double> rule_ranking(const SelectionRule& rule, const RuleInput& in) {
  return rule.rank ? rule.rank(in) : std::vector<double>();
}

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

}  // namespace clues
