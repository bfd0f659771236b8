// Logging and progress (lib/dist/log.h).
#include "lib/dist/log.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "lib/dist/process_stats.h"

namespace clues {

namespace {
const auto kStart = std::chrono::steady_clock::now();
}

double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  return -1;
}

double elapsed_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count(); }

std::string format_seconds(double s) {
  char buf[32];
  if (s < 90) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 5400) std::snprintf(buf, sizeof buf, "%.1fmin", s / 60);
  else std::snprintf(buf, sizeof buf, "%.2fh", s / 3600);
  return buf;
}

void log0(const Comm& comm, const std::string& msg) {
  if (!comm.is_root()) return;
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "[clues %7.1fs] ", elapsed_s());
  std::cout << stamp << msg << std::endl;
}

void log_any(const Comm& comm, const std::string& msg) {
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "[clues %7.1fs rank %d] ", elapsed_s(), comm.rank());
  std::cout << stamp << msg << std::endl;
}

Progress::Progress(const Comm& comm, std::string phase, int64_t total, double every_s)
    : comm_(comm), phase_(std::move(phase)), total_(total), every_s_(every_s),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(int64_t done) {
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < every_s_ || done >= total_) return;
  last_ = now;
  const double t = std::chrono::duration<double>(now - start_).count();
  const double rate = t > 0 ? static_cast<double>(done) / t : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: %lld/%lld (%.0f%%), %.1f/s, ETA %s", phase_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_),
                100.0 * static_cast<double>(done) / static_cast<double>(std::max<int64_t>(total_, 1)), rate,
                format_seconds(eta).c_str());
  log0(comm_, buf);
}

void Progress::finish() {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  log0(comm_, phase_ + ": done in " + format_seconds(t));
}

}  // namespace clues
