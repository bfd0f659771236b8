// The device each rank computes on, chosen in one place: the rule (gpu_for_local_rank),
// the CUDA settings a run needs (current device, deterministic kernels), and the NCCL link
// for device tensors when every rank has a GPU of its own.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "lib/dist/comm.h"
#include "lib/config/config.h"

namespace clues {

// cpu; cuda: the GPU of the rank's node-local rank (an InputError when LibTorch has no
// CUDA or sees no GPU); auto: cuda when there is one, else cpu.
torch::Device pick_device(Device want, const Comm& comm);

// Keeps `dev` the current device while it lives. On CUDA it also turns on LibTorch's
// deterministic algorithms (warn-only) with a fixed cuBLAS workspace, so reruns, resumes
// and rank layouts add in the same order.
class DeviceScope {
 public:
  explicit DeviceScope(const torch::Device& dev);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

// Collective: attaches an NCCL link to `comm` when the job has several ranks, each on a
// GPU of its own, and NCCL was built; otherwise device tensors go through host memory and
// MPI. Logs the decision on rank 0.
void attach_device_link(Comm& comm, const torch::Device& dev);

}  // namespace clues
