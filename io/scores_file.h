// The scores.h5 schema (DESIGN.md §4) and the projected-feature files:
//   scores.h5: /silos/<name>/{score, warmup_loss, max_token_loss, base_loss, ifd, anchor_loss} float64 (and datainf, the DataInf
//   influence, when that comparison row ran) and /silos/<name>/selected uint8 (one per input
//   line, input order; attribute threshold: the one the silo applied), /anchor/score float64
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

// One silo's columns; the pointers are read only on the rank that hosts it (`here`).
struct SiloColumns {
  std::string name;
  int64_t samples = 0;
  double threshold = 0;
  bool here = false;
  const double* score = nullptr;
  const double* warmup_loss = nullptr;
  const double* max_token_loss = nullptr;  // the largest response-token loss, same model
  const double* base_loss = nullptr;       // the mean response loss under the base model
  int64_t anchors = 0;                     // anchor_loss: the anchors' losses under the silo's model
  const double* anchor_loss = nullptr;
  const double* ifd = nullptr;
  const uint8_t* selected = nullptr;
  const double* datainf = nullptr;  // written when `with_datainf`
};

// Collective over `comm` (MPI-IO): every rank passes every silo in the same order with its
// own hosted ones marked `here`; rank 0 passes the anchors and learning rates (others may
// pass empty vectors, `anchor_samples` and `checkpoints` give the sizes everywhere).
void write_scores_file(const std::string& path, MPI_Comm comm, const std::vector<SiloColumns>& silos,
                       int64_t anchor_samples, const std::vector<double>& anchor_score, int64_t checkpoints,
                       const std::vector<double>& lrs, double threshold, const std::string& config_ini,
                       bool with_datainf = false);

// One set's projected features at one checkpoint (n × k float32, row-major).
void write_features_file(const std::string& path, const float* data, int64_t n, int64_t k, double lr,
                         int64_t checkpoints, uint64_t project_seed);

}  // namespace clues
