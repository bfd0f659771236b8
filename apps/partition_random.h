// Seeded random numbers for `clues partition`: a generator and the few distributions it
// needs (uniform, Gamma, Beta, Dirichlet, shuffles), written here rather than taken from
// <random>, whose distributions and std::shuffle may differ between standard libraries:
// the same seed must give the same partition everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace clues {

// xoshiro256** seeded through splitmix64. Each step of the partitioning draws from its own
// stream, derived(seed, "name"), so that changing one step's options (say the bad ratios)
// leaves the others' draws (the partition itself) unchanged.
class PartitionRng {
 public:
  explicit PartitionRng(uint64_t seed);
  static PartitionRng derived(uint64_t seed, const std::string& stream);

  uint64_t next();
  double uniform();                // [0, 1), 53 random bits
  uint64_t below(uint64_t n);      // uniform in [0, n), unbiased; n > 0
  double normal();                 // standard normal (Box-Muller)
  double log_gamma(double shape);  // log of a Gamma(shape, 1) draw: finite even for tiny shapes
  double beta(double a, double b);
  // Proportions over n parts from a symmetric Dirichlet(alpha, ..., alpha); they sum to 1.
  std::vector<double> dirichlet(double alpha, size_t n);

  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t s_[4];
};

}  // namespace clues
