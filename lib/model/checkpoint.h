// Named tensors in HDF5 checkpoint files (their names and places: io/layout.h): each
// tensor as float32 under <group>/<name>, or a flat vector cut along the parameters' shapes.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "io/h5.h"

namespace clues {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes each tensor (as float32) to <group>/<name>.
void write_tensors(H5File& f, const std::string& group, const NamedTensors& ts);
// Reads <group>/<name> into each tensor (shapes must match).
void read_tensors(const H5File& f, const std::string& group, const NamedTensors& ts);

// Same, for a flat tensor split along the shapes of `like` (names from `like`).
void write_flat(H5File& f, const std::string& group, const NamedTensors& like, const torch::Tensor& flat);
torch::Tensor read_flat(const H5File& f, const std::string& group, const NamedTensors& like);

}  // namespace clues
