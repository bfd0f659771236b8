// Partitioning schemes (apps/partition_schemes.h).
#include "apps/partition_schemes.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "io/error.h"

namespace clues {

namespace {

std::vector<std::vector<size_t>> items_by_domain(const SchemeInput& in) {
  std::vector<std::vector<size_t>> by(in.domain_names.size());
  for (size_t i = 0; i < in.domain.size(); ++i) by[static_cast<size_t>(in.domain[i])].push_back(i);
  return by;
}

// Cuts `items` into consecutive runs of the given sizes (which sum to items.size()).
SiloItems cut(const std::vector<size_t>& items, const std::vector<size_t>& sizes) {
  SiloItems out(sizes.size());
  size_t start = 0;
  for (size_t s = 0; s < sizes.size(); ++s) {
    out[s].assign(items.begin() + static_cast<std::ptrdiff_t>(start), items.begin() + static_cast<std::ptrdiff_t>(start + sizes[s]));
    start += sizes[s];
  }
  return out;
}

// n items into `parts` sizes as even as can be: the first n % parts get one more.
std::vector<size_t> even_sizes(size_t n, size_t parts) {
  std::vector<size_t> sizes(parts, n / parts);
  for (size_t s = 0; s < n % parts; ++s) ++sizes[s];
  return sizes;
}

std::vector<size_t> shuffled_range(size_t n, PartitionRng& rng) {
  std::vector<size_t> v(n);
  std::iota(v.begin(), v.end(), size_t{0});
  rng.shuffle(v);
  return v;
}

SiloItems iid(const SchemeInput& in, PartitionRng& rng) {
  const auto order = shuffled_range(in.domain.size(), rng);
  return cut(order, even_sizes(order.size(), static_cast<size_t>(in.o.silos)));
}

// Per domain, proportions over silos from Dir(alpha); the domain's shuffled items are cut
// at floor(cumulative proportion · count). Drawn again (up to 10 draws, as Flower does)
// while some silo has fewer than min_size items.
SiloItems dirichlet(const SchemeInput& in, PartitionRng& rng) {
  const size_t n_silos = static_cast<size_t>(in.o.silos);
  const auto by = items_by_domain(in);
  size_t smallest = 0;
  for (int attempt = 0; attempt < 10; ++attempt) {
    SiloItems out(n_silos);
    for (auto items : by) {
      const std::vector<double> p = rng.dirichlet(in.o.alpha, n_silos);
      rng.shuffle(items);
      double cum = 0;
      size_t start = 0;
      for (size_t s = 0; s < n_silos; ++s) {
        cum += p[s];
        size_t end = s + 1 == n_silos ? items.size() : static_cast<size_t>(std::floor(cum * static_cast<double>(items.size())));
        end = std::clamp(end, start, items.size());
        out[s].insert(out[s].end(), items.begin() + static_cast<std::ptrdiff_t>(start), items.begin() + static_cast<std::ptrdiff_t>(end));
        start = end;
      }
    }
    smallest = out[0].size();
    for (const auto& s : out) smallest = std::min(smallest, s.size());
    if (smallest >= in.min_size) return out;
  }
  throw InputError("--scheme dirichlet: after 10 draws some silo still got only " + std::to_string(smallest) +
                   " samples (it needs " + std::to_string(in.min_size) + ": --test-size and one more)" +
                   "\nHINT: raise --alpha, or lower --silos or --test-size");
}

// Silo s holds domain s mod D and k-1 more drawn at random (Flower's PathologicalPartitioner,
// "first-deterministic"); each domain's items are split evenly among the silos holding it.
SiloItems k_domains(const SchemeInput& in, PartitionRng& rng) {
  const size_t n_silos = static_cast<size_t>(in.o.silos), n_domains = in.domain_names.size();
  const size_t k = static_cast<size_t>(in.o.k);
  std::vector<std::vector<size_t>> holders(n_domains);  // silos per domain, ascending
  for (size_t s = 0; s < n_silos; ++s) {
    std::vector<size_t> mine{s % n_domains};
    while (mine.size() < k) {
      const size_t d = rng.below(n_domains);
      if (std::find(mine.begin(), mine.end(), d) == mine.end()) mine.push_back(d);
    }
    for (size_t d : mine) holders[d].push_back(s);
  }
  for (auto& h : holders) std::sort(h.begin(), h.end());
  auto by = items_by_domain(in);
  SiloItems out(n_silos);
  for (size_t d = 0; d < n_domains; ++d) {
    if (holders[d].empty()) continue;  // fewer silos than domains: this domain is left out
    if (by[d].size() < holders[d].size())
      throw InputError("--scheme k-domains: domain \"" + in.domain_names[d] + "\" has " + std::to_string(by[d].size()) +
                       " samples left after the held-out sets, for " + std::to_string(holders[d].size()) +
                       " silos that hold it\nHINT: lower --silos or --k, or give that domain more samples");
    rng.shuffle(by[d]);
    const SiloItems parts = cut(by[d], even_sizes(by[d].size(), holders[d].size()));
    for (size_t j = 0; j < holders[d].size(); ++j) {
      auto& silo = out[holders[d][j]];
      silo.insert(silo.end(), parts[j].begin(), parts[j].end());
    }
  }
  return out;
}

// Sizes from skew_weights, floored, the remainder to the largest (last) silo, as Flower's
// IdToSizeFncPartitioner; domains mixed as in iid.
SiloItems size_skew(const SchemeInput& in, PartitionRng& rng) {
  const auto order = shuffled_range(in.domain.size(), rng);
  const auto w = skew_weights(in.o.skew, in.o.skew_param, in.o.silos);
  std::vector<size_t> sizes(w.size());
  size_t given = 0;
  for (size_t s = 0; s < w.size(); ++s) given += sizes[s] = static_cast<size_t>(std::floor(w[s] * static_cast<double>(order.size())));
  sizes.back() += order.size() - given;
  return cut(order, sizes);
}

}  // namespace

std::vector<double> skew_weights(const std::string& skew, double param, int64_t n) {
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t i = 1; i <= n; ++i) {
    const double x = static_cast<double>(i);
    w[static_cast<size_t>(i - 1)] = skew == "linear"        ? x
                                    : skew == "exponential" ? std::exp(param * (x - static_cast<double>(n)))  // exp(P·i), scaled
                                                            : std::pow(x, param);
  }
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (auto& v : w) v /= sum;
  return w;
}

const std::vector<PartitionScheme>& partition_schemes() {
  static const std::vector<PartitionScheme> table = {
      {"iid", "every silo a uniform random share of the pool, sizes equal within one", "lower --silos or --test-size", iid},
      {"dirichlet", "per domain, its samples split over silos by proportions drawn from Dir(--alpha): small alpha puts "
                    "each domain on few silos, large alpha approaches iid",
       "raise --alpha, or lower --silos or --test-size", dirichlet},
      {"k-domains", "every silo holds exactly --k domains (silo s: domain s mod D and k-1 at random), each domain split "
                    "evenly among its silos",
       "lower --silos or --test-size, or raise --k", k_domains},
      {"size-skew", "silo sizes grow with the silo's number by --skew (linear i, exponential:P exp(P·i), power:P i^P); "
                    "domains mixed as in iid",
       "use a milder --skew, or lower --silos or --test-size", size_skew},
  };
  return table;
}

const PartitionScheme& find_scheme(const std::string& name) {
  std::string names;
  for (const auto& s : partition_schemes()) {
    if (name == s.name) return s;
    names += std::string(names.empty() ? "" : " | ") + s.name;
  }
  throw InputError("--scheme: unknown scheme \"" + name + "\"; choose one of " + names);
}

}  // namespace clues
