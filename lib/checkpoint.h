// Checkpoint files of the warm-up (HDF5 under <out>/checkpoints/):
//   round_NNN.h5             global trainable weights, server-averaged Adam moments, lr
//   round_NNN_silo_<name>.h5 one silo's own Adam moments (written by the rank hosting it)
//   base.h5                  every parameter of the initial model
// Each file is written under a temporary name and renamed when complete.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "io/h5.h"

namespace clues {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

std::string checkpoint_dir(const std::string& out);
std::string round_file(const std::string& out, int64_t round);
std::string silo_moments_file(const std::string& out, int64_t round, const std::string& silo);
// Journal of the scores ("dots") of one set of samples (silo_<name> or anchor) at a
// checkpoint, appended batch by batch (io/files.h append_journal).
std::string dots_journal(const std::string& out, int64_t round, const std::string& what);

// Writes each tensor (as float32) to <group>/<name>.
void write_tensors(H5File& f, const std::string& group, const NamedTensors& ts);
// Reads <group>/<name> into each tensor (shapes must match).
void read_tensors(const H5File& f, const std::string& group, const NamedTensors& ts);

// Same, for a flat tensor split along the shapes of `like` (names from `like`).
void write_flat(H5File& f, const std::string& group, const NamedTensors& like, const torch::Tensor& flat);
torch::Tensor read_flat(const H5File& f, const std::string& group, const NamedTensors& like);

}  // namespace clues
