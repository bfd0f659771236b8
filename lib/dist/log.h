// Rank-0 logging with elapsed time, and a progress line with rate and ETA for long phases.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lib/dist/comm.h"

namespace clues {

// Seconds since the process started logging (first call).
double elapsed_s();

// Prints "[clues  12.3s] msg" on rank 0 only.
void log0(const Comm& comm, const std::string& msg);

// Prints "[clues 12.3s rank 2] msg" on whichever rank calls it (events local to a rank).
void log_any(const Comm& comm, const std::string& msg);

// Logs "<phase>: done/total (x%), r/s, ETA t" on rank 0 at most every `every_s` seconds.
class Progress {
 public:
  Progress(const Comm& comm, std::string phase, int64_t total, double every_s);
  void update(int64_t done);
  void finish();

 private:
  const Comm& comm_;
  std::string phase_;
  int64_t total_;
  double every_s_;
  std::chrono::steady_clock::time_point start_, last_;
};

std::string format_seconds(double s);

}  // namespace clues
