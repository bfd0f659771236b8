// NVTX ranges for Nsight Systems: on builds with the CUDA toolkit's NVTX (CLUES_WITH_NVTX,
// lib/CMakeLists.txt) a range is pushed on this thread at construction and popped at
// destruction, so a timeline (`nsys profile mpirun ... clues run`) reads by phase, scoring
// batch, training step and communication call. Without a profiler attached NVTX calls
// return at once; on builds without NVTX they are empty. No LibTorch, no CUDA headers here.
#pragma once

namespace clues {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

// True when this build emits NVTX ranges.
bool nvtx_enabled();

}  // namespace clues
