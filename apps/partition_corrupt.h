// Low-quality samples for `clues partition`: the corruption kinds (one table entry each:
// name, help, a small general function of the sample's answer) and their injection into a
// silo. Only the "output" field of a line changes; every other field is kept.
#pragma once

#include <string>
#include <vector>

#include "apps/partition.h"
#include "apps/partition_random.h"

namespace clues {

// Answers that swap and cross-domain borrow: every sample given to some silo.
struct Donors {
  const std::vector<PoolSample>* samples = nullptr;
  std::vector<std::vector<size_t>> by_domain;  // pool indices per domain
};

struct CorruptionKind {
  const char* name;
  const char* help;
  std::string (*apply)(const PoolSample& s, const Donors& donors, PartitionRng& rng);
};

const std::vector<CorruptionKind>& corruption_kinds();
// The index of `name` in corruption_kinds(); throws InputError listing the names otherwise.
int find_corruption(const std::string& name);

// `s`'s answer under kind `kind`; when that leaves it unchanged (a one-word answer
// shuffled, an empty answer emptied) the refusal, then the empty answer, stand in, so a
// line labelled 1 always differs from its source. Returns the kind actually applied.
int corrupt(const PoolSample& s, int kind, const Donors& donors, PartitionRng& rng, std::string& output);

// `raw` (one JSON object) with its "output" replaced; key order and other fields kept.
std::string with_output(const std::string& raw, const std::string& output);

// Fills silo.lines, labels and kind from silo.samples: round(ratio · n) lines, chosen at
// random, get a corruption; the kinds in `kinds` take turns over them.
void inject(StudySilo& silo, const std::vector<PoolSample>& samples, double ratio, const std::vector<int>& kinds,
            const Donors& donors, PartitionRng& rng);

}  // namespace clues
