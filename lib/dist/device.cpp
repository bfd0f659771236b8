// Device choice, CUDA settings and the NCCL link (lib/dist/device.h).
#include "lib/dist/device.h"

#include <cstdlib>

#include "io/error.h"
#include "lib/dist/log.h"
#include "lib/dist/process_stats.h"
#if __has_include(<c10/core/CachingDeviceAllocator.h>)
#include <c10/core/CachingDeviceAllocator.h>
#define CLUES_HAVE_DEVICE_ALLOCATOR_STATS 1
#endif
#ifdef CLUES_HAVE_NCCL
#include "lib/dist/nccl_comm.h"
#endif

namespace clues {

torch::Device pick_device(Device want, const Comm& comm) {
  if (want == Device::kCpu) return torch::kCPU;
  const bool have = torch::cuda::is_available() && torch::cuda::device_count() > 0;
  if (!have) {
    if (want == Device::kCuda)
      throw InputError("--device cuda: this LibTorch has no CUDA or no GPU is visible; use --device cpu or auto");
    return torch::kCPU;
  }
  const int gpu = gpu_for_local_rank(comm.local_rank(), static_cast<int>(torch::cuda::device_count()));
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu));
}

struct DeviceScope::Guard {
  c10::OptionalDeviceGuard guard;
};

DeviceScope::DeviceScope(const torch::Device& dev) : guard_(std::make_unique<Guard>()) {
  if (!dev.is_cuda()) return;
  guard_->guard.reset_device(dev);
  // Repeatable sums on the GPU (index_add_ and friends without atomics); cuBLAS needs a
  // fixed workspace for that. Operations without a deterministic kernel only warn.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
}

DeviceScope::~DeviceScope() = default;

double cuda_peak_mib(int index) {
#ifdef CLUES_HAVE_DEVICE_ALLOCATOR_STATS
  if (!torch::cuda::is_available()) return -1;
  const auto stats = c10::getDeviceAllocator(c10::DeviceType::CUDA)->getDeviceStats(static_cast<c10::DeviceIndex>(index));
  const auto& bytes = stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
  return static_cast<double>(bytes.peak) / (1024.0 * 1024.0);
#else
  (void)index;
  return -1;
#endif
}

void attach_device_link(Comm& comm, const torch::Device& dev) {
  // NCCL needs every rank on a GPU of its own; every rank takes the same decision.
  const bool all_cuda = comm.all_ok(dev.is_cuda());
  if (comm.size() > 1 && all_cuda) {
#ifdef CLUES_HAVE_NCCL
    if (gpus_distinct(comm.raw(), static_cast<int>(dev.index()))) {
      auto link = std::make_shared<NcclLink>(comm.raw());
      if (link->device() != dev.index())
        throw Error("rank " + std::to_string(comm.rank()) + ": NCCL chose GPU " + std::to_string(link->device()) +
                    " but the model is on GPU " + std::to_string(dev.index()) + "; start one rank per GPU");
      log0(comm, "device collectives (weight averaging, validation gradient, pretraining) through " + link->name());
      comm.attach(std::move(link));
    } else {
      log0(comm, "ranks share GPUs (more ranks than GPUs on a node): device tensors are summed through host "
                 "memory and MPI; start one rank per GPU to use NCCL");
    }
#else
    log0(comm, "this build has no NCCL: device tensors are summed through host memory and MPI");
#endif
  } else if (!comm.all_ok(!dev.is_cuda())) {
    log0(comm, "some ranks run on a GPU and some on the CPU: device tensors are summed through host memory and MPI");
  }
}

}  // namespace clues
