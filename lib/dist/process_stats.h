// What this process costs. Its communication: wall seconds inside MPI calls and device
// collectives (waiting for the other ranks included, as MPI profilers count it), their
// payload bytes and their number. Counted by Comm (lib/dist/comm.cpp) and the device-link
// collectives (lib/dist/collectives.cpp); the run's phase clock reports them per phase.
// Its memory: the peak resident set (lib/dist/log.cpp) and the GPU's peak, in report.json.
// Its timeline: with CLUES_TRACE=PREFIX, each rank writes PREFIX<rank>.json, a Chrome trace
// (chrome://tracing, Perfetto) of the run's phases and of every MPI call and device collective.
#pragma once

#include <cstdint>
#include <string>

#include "lib/dist/nvtx.h"

namespace clues {

struct CommStats {
  double seconds = 0;
  int64_t bytes = 0;  // payload of each call on this rank (a broadcast's buffer, a message, a gather's result)
  int64_t calls = 0;
};

// The process's running totals.
CommStats& comm_stats();

// Counts one call `what` of `bytes` bytes and the seconds from its construction to its
// destruction (and traces it when tracing; an NVTX range on NVTX builds).
class CommTimer {
 public:
  CommTimer(int64_t bytes, const char* what);
  ~CommTimer();
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  NvtxRange range_;
  double t0_;
  int64_t bytes_;
  const char* what_;
};

// Seconds of a steady clock (the trace's time base).
double steady_s();

// True when CLUES_TRACE names a file prefix.
bool tracing();

// Records a span of the timeline: a phase (lane 0) or a communication call (lane 1), from
// t0 (steady_s) for dur seconds; bytes < 0: none. At most a million events are kept.
void trace_span(const std::string& name, int lane, double t0, double dur, int64_t bytes = -1);

// Writes this rank's timeline to CLUES_TRACE<rank>.json (nothing when not tracing);
// returns the path written or "".
std::string write_trace(int rank);

// This process's peak resident memory in MiB (VmHWM of /proc/self/status), -1 where unknown.
double peak_rss_mib();

// Peak memory LibTorch's caching allocator has held on CUDA device `index` in MiB (its
// allocated bytes' peak; lib/dist/device.cpp), -1 where unknown.
double cuda_peak_mib(int index);

}  // namespace clues
