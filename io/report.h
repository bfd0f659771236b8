// What a run reports: the per-silo summary, the comparison rows, and their files:
// report.json (written last), comparison.md, and checkpoints/compare_<row>.json (a
// finished row, kept for resume). -1 in a record means "not available"; in report.json
// such a figure is null. JSON goes through nlohmann's type macros, not by hand.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace clues {

struct SiloSummary {
  std::string name;
  int64_t samples = 0;
  int64_t kept = 0;
  double threshold = 0;    // the threshold this silo applied
  double bad_share = -1;   // share of low-quality labels, -1 without labels
  double auroc = -1;       // -1 without labels or with only one class
  double precision = -1, recall = -1, f1 = -1;
  double test_loss = -1;   // mean response loss on --test, -1 without
};

// One silo's figures in one comparison row (-1 where not available).
struct RowSilo {
  int64_t kept = 0;
  double test_loss = -1, perplexity = -1, exact_match = -1;  // of the row's fine-tuned model
  double auroc = -1, precision = -1, recall = -1, f1 = -1;   // of the row's ranking/selection
};
// A row of the comparison: a selection, the model fine-tuned on it, and its figures.
struct CompareRow {
  std::string name;
  std::vector<RowSilo> silos;  // in --silo order
  double macro_loss = -1, macro_perplexity = -1, macro_exact_match = -1;  // means over silos (and seeds)
  double macro_loss_sd = -1;  // standard deviation of the macro test loss over compare.seeds (> 1)
  double pooled_auroc = -1, pooled_precision = -1, pooled_recall = -1, pooled_f1 = -1;
};

// Which selection rule made the run's selection (selected/, the final model), in words.
struct SelectionInfo {
  std::string rule;         // select.rank: a rule of the table (lib/method/rules.h)
  std::string origin;       // "the paper's rule", "this project's rule" or "a baseline"
  std::string description;  // the rule's help text
  double loss_weight = -1;  // select.loss_weight where the rule reads it (blend), else -1
};

struct RunSummary {
  double threshold = 0;
  SelectionInfo selection;
  std::vector<SiloSummary> silos;  // in --silo order
  double pooled_auroc = -1;
  double pooled_precision = -1, pooled_recall = -1, pooled_f1 = -1;
  std::vector<CompareRow> comparison;  // empty when no comparison ran
  double seconds = 0;
};

// What report.json records beside the summary.
struct RunFacts {
  std::string collab, threshold_mode, anchor_moments, scope, rank, engine, precondition;
  int ranks = 1;
  int64_t checkpoints = 0, trainable_params = 0, truncated_samples = 0;
  int64_t anchor_samples = 0;
  double anchor_mean_score = 0;
  double sample_silos = 0;  // train.sample_silos: 0 = every silo trains every round
  double local_epochs = 0;  // train.local_epochs: 0 = train.local_steps steps per silo and round
  double peak_rss_mib_max = -1, peak_rss_mib_min = -1;  // peak resident memory of the ranks (host)
  double peak_device_mib_max = -1, peak_device_mib_min = -1;  // GPU memory peak of the ranks; -1 on CPU
  std::vector<int> host_rank;  // per silo, in --silo order
  std::map<std::string, double> timings_s;
  // Per phase: seconds inside MPI calls and device collectives (the most of any rank) and payload bytes (all ranks).
  std::map<std::string, double> communication_s, communication_bytes;
  std::vector<std::string> warnings;  // collapse, scores without information
};

// report.json (atomically; callers write it last).
void write_report(const std::string& path, const RunSummary& s, const RunFacts& facts);
// A finished comparison row, and back (throws IoError naming the file when it is damaged).
void write_compare_row(const std::string& path, const CompareRow& row);
CompareRow read_compare_row(const std::string& path);

// The comparison as a Markdown table (with the gap to the oracle closed, when both the
// full and oracle rows are present).
std::string comparison_markdown(const std::vector<CompareRow>& rows, const std::vector<std::string>& silo_names);

}  // namespace clues
