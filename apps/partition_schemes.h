// The partitioning schemes of `clues partition`, one table entry each (name, help, the
// function that assigns samples to silos). Semantics follow Flower Datasets' partitioners
// (IidPartitioner, DirichletPartitioner, PathologicalPartitioner in its
// "first-deterministic" mode, Linear/Exponential/SquarePartitioner), with domains in
// place of class labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/partition.h"
#include "apps/partition_random.h"

namespace clues {

struct SchemeInput {
  const std::vector<int>& domain;  // the domain of each item to partition (items 0..n-1)
  const std::vector<std::string>& domain_names;
  size_t min_size;  // the fewest items a silo may get (its test set and one more)
  const PartitionOptions& o;
};

// items[s] = the items of silo s, in any order (the caller shuffles each silo).
using SiloItems = std::vector<std::vector<size_t>>;

struct PartitionScheme {
  const char* name;
  const char* help;
  const char* hint;  // what to change when a silo comes out smaller than min_size
  SiloItems (*assign)(const SchemeInput& in, PartitionRng& rng);
};

const std::vector<PartitionScheme>& partition_schemes();
// The entry named `name`; throws InputError listing the names otherwise.
const PartitionScheme& find_scheme(const std::string& name);

// Relative silo sizes of --scheme size-skew for silos 1..n (increasing): linear i,
// exponential exp(P·i), power i^P; normalised to sum to 1.
std::vector<double> skew_weights(const std::string& skew, double param, int64_t n);

}  // namespace clues
