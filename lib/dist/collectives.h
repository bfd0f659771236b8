// Tensor collectives between ranks that keep Comm::ordered_sum's promise: items are added
// in index order, so a sum is bitwise the same however the items are spread over ranks.
// Host tensors, and device tensors of a Comm without a device link, are staged through
// host memory and MPI (Comm::ordered_sum, Comm::broadcast). With a device link (NCCL on
// GPU jobs, attached by the pipeline) device tensors stay on the device: every rank's
// items are all-gathered and each rank adds them in index order itself.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>

#include "lib/dist/comm.h"

namespace clues {

// Sum over items 0..n_items-1 of produce(j), a float32 vector of `len` values that is
// called on rank owner(j) only; the result is on `device`, the same on every rank.
// The device path produces a rank's items first (in parallel over ranks), then moves at most
// `budget` floats per all-gather (the vector goes in slices), so it holds a rank's whole
// share of items. With `one_at_a_time` (for items that are cheap to produce, e.g. read from
// a file) it instead broadcasts item after item from its owner, holding one item.
torch::Tensor ordered_sum(const Comm& comm, int64_t n_items, const std::function<int(int64_t)>& owner, int64_t len,
                          const std::function<torch::Tensor(int64_t)>& produce, const torch::Device& device,
                          int64_t budget = int64_t{1} << 26, bool one_at_a_time = false);

// Every rank's `t` (contiguous) receives root's values, in place on its device.
void broadcast(const Comm& comm, torch::Tensor& t, int root = 0);

}  // namespace clues
