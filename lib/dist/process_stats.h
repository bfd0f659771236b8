// What this process costs. Its communication: wall seconds inside MPI calls and device
// collectives (waiting for the other ranks included, as MPI profilers count it), their
// payload bytes and their number. Counted by Comm (lib/dist/comm.cpp) and the device-link
// collectives (lib/dist/collectives.cpp); the run's phase clock reports them per phase.
// Its memory: the peak resident set (lib/dist/log.cpp) and the GPU's peak, in report.json.
#pragma once

#include <cstdint>

namespace clues {

struct CommStats {
  double seconds = 0;
  int64_t bytes = 0;  // payload of each call on this rank (a broadcast's buffer, a message, a gather's result)
  int64_t calls = 0;
};

// The process's running totals.
CommStats& comm_stats();

// Counts one call of `bytes` bytes and the seconds from its construction to its destruction.
class CommTimer {
 public:
  explicit CommTimer(int64_t bytes);
  ~CommTimer();
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  double t0_;
};

// This process's peak resident memory in MiB (VmHWM of /proc/self/status), -1 where unknown.
double peak_rss_mib();

// Peak memory LibTorch's caching allocator has held on CUDA device `index` in MiB (its
// allocated bytes' peak; lib/dist/device.cpp), -1 where unknown.
double cuda_peak_mib(int index);

}  // namespace clues
