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
  double bad_share = -1;   // share of low-quality labels, -1 without labels
  double auroc = -1;       // -1 without labels (NaN when only one class)
  double precision = -1, recall = -1, f1 = -1;
  double test_loss = -1;   // mean response loss on --test, -1 without
};

struct RunSummary {
  double threshold = 0;
  std::vector<SiloSummary> silos;  // in --silo order
  double pooled_auroc = -1;
  double pooled_precision = -1, pooled_recall = -1, pooled_f1 = -1;
  double seconds = 0;
};

// Which rank hosts each silo: longest-processing-time assignment by input file size, so
// the split is deterministic and needs no silo's content on another rank.
std::vector<int> assign_silos(const std::vector<int64_t>& sizes, int ranks);

// Runs everything on all ranks of `comm`; rank 0 gets the summary (others a partial one).
RunSummary run_pipeline(const Config& cfg, const Comm& comm);

// Human-readable per-silo table of a summary.
std::string format_summary(const RunSummary& s);

}  // namespace clues
