// Fault injection for the kill-and-resume tests (io/failpoint.h).
#include "io/failpoint.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace clues {

namespace {
// True at the N-th matching call under CLUES_FAILPOINT=NAME:N[:RANK].
bool failpoint_hit(const char* name, int rank, int* target_out) {
  static const std::string spec = [] {
    const char* e = std::getenv("CLUES_FAILPOINT");
    return std::string(e ? e : "");
  }();
  if (spec.empty()) return false;
  static int hits = 0;
  const auto c1 = spec.find(':');
  if (spec.substr(0, c1) != name) return false;
  const auto c2 = spec.find(':', c1 + 1);
  const int target = std::atoi(spec.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1).c_str());
  if (c2 != std::string::npos && std::atoi(spec.substr(c2 + 1).c_str()) != rank) return false;
  *target_out = target;
  return ++hits == target;
}
}  // namespace

void failpoint(const char* name, int rank) {
  int target = 0;
  if (failpoint_hit(name, rank, &target)) {
    std::fprintf(stderr, "clues: failpoint %s:%d reached on rank %d, killing this process\n", name, target, rank);
    std::fflush(stderr);
    std::raise(SIGKILL);
  }
}

bool injected(const char* name, int rank) {
  int target = 0;
  return failpoint_hit(name, rank, &target);
}

}  // namespace clues
