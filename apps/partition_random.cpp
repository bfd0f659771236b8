// The generator and distributions of apps/partition_random.h.
#include "apps/partition_random.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>

namespace clues {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr double kPi = 3.14159265358979323846;

}  // namespace

PartitionRng::PartitionRng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

PartitionRng PartitionRng::derived(uint64_t seed, const std::string& stream) {
  return PartitionRng(XXH3_64bits_withSeed(stream.data(), stream.size(), seed));
}

uint64_t PartitionRng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double PartitionRng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t PartitionRng::below(uint64_t n) {
  // Rejection of the top partial block keeps every value equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

double PartitionRng::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double PartitionRng::log_gamma(double shape) {
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a); in logs, so that tiny shapes do not underflow to 0.
    const double u = 1.0 - uniform();
    return log_gamma(shape + 1.0) + std::log(u) / shape;
  }
  // Marsaglia and Tsang (2000).
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal();
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v);
  }
}

double PartitionRng::beta(double a, double b) {
  const double la = log_gamma(a), lb = log_gamma(b);
  return 1.0 / (1.0 + std::exp(lb - la));
}

std::vector<double> PartitionRng::dirichlet(double alpha, size_t n) {
  std::vector<double> p(n);
  for (auto& x : p) x = log_gamma(alpha);
  const double top = *std::max_element(p.begin(), p.end());
  double sum = 0;
  for (auto& x : p) sum += (x = std::exp(x - top));
  for (auto& x : p) x /= sum;
  return p;
}

}  // namespace clues
