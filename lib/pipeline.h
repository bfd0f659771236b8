// The whole CLUES run: warm-up training across silos, scoring at every checkpoint,
// global threshold from the anchors, selection, and the output folder (DESIGN.md §4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/comm.h"
#include "lib/config.h"

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

struct RunSummary {
  double threshold = 0;
  std::vector<SiloSummary> silos;  // in --silo order
  double pooled_auroc = -1;
  double pooled_precision = -1, pooled_recall = -1, pooled_f1 = -1;
  std::vector<CompareRow> comparison;  // empty when no comparison ran
  double seconds = 0;
};

// Which rank hosts each silo: longest-processing-time assignment by input file size, so
// the split is deterministic and needs no silo's content on another rank.
std::vector<int> assign_silos(const std::vector<int64_t>& sizes, int ranks);

// Runs everything on all ranks of `comm`; rank 0 gets the summary (others a partial one).
RunSummary run_pipeline(const Config& cfg, const Comm& comm);

// The selection of comparison row `row` in one silo (see CompareConfig), from the CLUES
// scores and selection, the warm-up model's losses and IFD, and the labels (oracle).
std::vector<uint8_t> row_selection(const std::string& row, const std::vector<double>& score,
                                   const std::vector<uint8_t>& clues_selected, const std::vector<double>& loss,
                                   const std::vector<double>& ifd_values, const std::vector<uint8_t>& labels,
                                   const Config& cfg, int64_t silo);
// The ranking behind a row's selection (higher = kept first); empty for rows without one.
std::vector<double> row_ranking(const std::string& row, const std::vector<double>& score,
                                const std::vector<double>& loss, const std::vector<double>& ifd_values);

// The comparison as a Markdown table (with the gap to the oracle closed, when both the
// full and oracle rows are present).
std::string comparison_markdown(const std::vector<CompareRow>& rows, const std::vector<std::string>& silo_names);

// Human-readable per-silo table of a summary.
std::string format_summary(const RunSummary& s);

}  // namespace clues
