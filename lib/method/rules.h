// The selection rules: one table. Each entry is a way to choose samples within a silo:
// its name (what --select.rank and --compare.rows accept), the per-sample signals it reads,
// how it ranks a silo's samples (higher first; none for rules without a ranking), how it
// picks, and whether it is a baseline or needs labels. The run's selection, every
// comparison row, the detection figures and the tests all go through this table, so a
// new rule is one entry (add_selection_rule, or one line of the table in rules.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/report.h"
#include "lib/config/config.h"
#include "lib/method/signals.h"

namespace clues {

// What a rule sees of one silo.
struct RuleInput {
  const Signals& signals;                // score, warmup_loss, ifd, ... (lib/method/signals.h)
  const std::vector<uint8_t>& by_score;  // the paper's selection (score >= τ): its count sets k
  const std::vector<uint8_t>& labels;    // ground truth (evaluation rows only); may be empty
  const Config& cfg;
  int64_t silo;  // index in the job's silo list (seeds of random rules)
  int64_t n() const { return static_cast<int64_t>(by_score.size()); }
  int64_t k() const;  // samples the paper's rule keeps in this silo
};

// How a rule picks, for its description and the report.
enum class Picks { kThreshold, kCount, kShare, kAll, kLabels };
const char* to_string(Picks p);

struct SelectionRule {
  std::string name;
  std::string help;
  std::vector<std::string> needs;  // signal columns it reads
  Picks picks = Picks::kCount;     // threshold: score >= τ | count: the k best | share | all | labels
  bool baseline = true;            // a comparison baseline rather than a selection method
  bool needs_labels = false;       // runs only where every silo has --labels; never the run's selection
  std::function<std::vector<double>(const RuleInput&)> rank;     // higher is kept first; empty: no ranking
  std::function<std::vector<uint8_t>(const RuleInput&)> select;  // 1 = kept, one per sample
  bool papers = false;             // the CLUES paper's own rule (the others: this project's or baselines)
};

// The rule behind select.rank, in words, for the console and report.json.
SelectionInfo describe_selection(const Config& cfg);

// Every rule, in table order (the comparison's row order).
const std::vector<SelectionRule>& selection_rules();
// Adds a rule at the end of the table (a study's or a test's own); its name must be new.
void add_selection_rule(SelectionRule rule);
// The rule named `name`; throws InputError listing the names.
const SelectionRule& selection_rule(const std::string& name);

// The rows to compare, in table order: compare.rows resolved ("all": every rule), rules
// needing labels only when `labelled`.
std::vector<std::string> compare_rows(const CompareConfig& cc, bool labelled);
// Throws InputError when select.rank or a compare.rows entry names no rule, or when
// select.rank names a rule that needs labels (labels never select).
void check_rule_names(const Config& cfg);
// The signal columns the run must compute beyond every run's: those the run's rule or a
// requested row reads (DataInf, say).
bool rule_needs(const Config& cfg, const std::string& column);

// The rule's selection and ranking of one silo (the ranking empty for rules without one).
std::vector<uint8_t> rule_selection(const SelectionRule& rule, const RuleInput& in);
std::vector<double> rule_ranking(const SelectionRule& rule, const RuleInput& in);

// Detection figures of a selection per silo and pooled, into `cr` (whose silos are sized
// already): AUROC of the ranking where there is one, precision/recall/F1 of the selection
// against "clean". Pooled only when every silo has labels; pooled AUROC only when
// `ranked`. -1 where a figure is not defined (one class only).
void fill_detection(CompareRow& cr, const std::vector<std::vector<double>>& ranking,
                    const std::vector<std::vector<uint8_t>>& sel, const std::vector<std::vector<uint8_t>>& labels,
                    bool ranked);

}  // namespace clues
