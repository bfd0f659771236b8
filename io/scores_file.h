// The scores.h5 schema (docs/outputs.md) and the projected-feature files:
//   scores.h5: /silos/<name>/<column> float64 for every per-sample signal column (score,
//   warmup_loss, max_token_loss, base_loss, ifd, and datainf when a rule read it), one per
//   input line in input order; /silos/<name>/anchor_loss float64 (one per anchor) and
//   /silos/<name>/selected uint8 (attribute threshold: the one the silo applied), /anchor/score float64
//   (the anchor scores the threshold came from: one per anchor under the server's moments,
//   or every silo's in silo order), /checkpoints/lr float64; attributes threshold, config on /.
//   features/<set>_round_NNN.h5: /features float32 [n, k]; attributes lr, checkpoints,
//   project_seed on /.
// Both are written under a temporary name and renamed when complete.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace clues {

// One silo's data; the pointers are read only on the rank that hosts it (`here`).
struct SiloColumns {
  std::string name;
  int64_t samples = 0;
  double threshold = 0;
  bool here = false;
  std::vector<const double*> columns;  // here: one per name of `column_names`, `samples` values each
  int64_t anchors = 0;                 // anchor_loss: the anchors' losses under the silo's model
  const double* anchor_loss = nullptr;
  const uint8_t* selected = nullptr;
};

// Collective over `comm` (MPI-IO): every rank passes the same column names and every silo
// in the same order with its own hosted ones marked `here`; rank 0 passes the anchors and
// learning rates (others may pass empty vectors, `anchor_samples` and `checkpoints` give
// the sizes everywhere).
void write_scores_file(const std::string& path, MPI_Comm comm, const std::vector<std::string>& column_names,
                       const std::vector<SiloColumns>& silos, int64_t anchor_samples,
                       const std::vector<double>& anchor_score, int64_t checkpoints, const std::vector<double>& lrs,
                       double threshold, const std::string& config_ini);

// One set's projected features at one checkpoint (n × k float32, row-major).
void write_features_file(const std::string& path, const float* data, int64_t n, int64_t k, double lr,
                         int64_t checkpoints, uint64_t project_seed);

}  // namespace clues
