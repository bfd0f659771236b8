// `clues partition`: turns pooled instruction data (one JSONL file per domain, or one file
// with a domain field) into a simulated study: N silos by a partitioning scheme (IID,
// Dirichlet over domains, k domains per silo, size-skewed), public validation and anchor
// sets and clean per-silo test sets held out, low-quality samples injected per silo with
// labels, a manifest and a picture. No LibTorch here: it builds in seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/run_inputs.h"

namespace clues {

// The options, as parsed and checked (parse_partition_options).
struct PartitionOptions {
  struct Source {
    std::string name;  // the domain (empty with a domain field)
    std::string path;
  };
  std::vector<Source> sources;
  std::string domain_field;  // with one source: each line's domain is this field's value
  int64_t silos = 0;
  uint64_t seed = 0;
  std::string scheme = "iid";   // an entry of partition_schemes()
  double alpha = 0.5;           // dirichlet
  int64_t k = 0;                // k-domains
  std::string skew = "linear";  // size-skew: linear | exponential | power
  double skew_param = 1.0;      // exponential: exp(P·i); power: i^P (i = 1..N)
  int64_t validation_size = 0;  // per domain
  int64_t anchor_size = 0;      // per domain
  int64_t test_size = 0;        // per silo
  std::vector<double> bad_ratios;  // one per silo, or cycled
  std::string bad_dist;            // "uniform" or "beta" (instead of bad_ratios)
  double bad_a = 0, bad_b = 0;     // uniform: LO, HI; beta: A, B
  std::vector<std::string> corruptions;  // entries of corruption_kinds()
  std::string out;
  bool overwrite = false;
  std::vector<std::string> args;  // the options that define the study (not --out), for the manifest
};

// One pooled sample: its domain, its line byte for byte, and the fields corruptions use.
struct PoolSample {
  int domain = 0;
  std::string raw, instruction, input, output;
};

// The pooled data: domains sorted by name, samples grouped by domain in source order.
struct StudyPool {
  std::vector<std::string> domains;
  std::vector<PoolSample> samples;
  std::vector<InputFile> sources;  // size and XXH3 of every source file
  std::vector<int64_t> source_samples;
};

// One silo of the study: its lines (clean ones byte for byte), a label per line and the
// corruption applied to each bad line.
struct StudySilo {
  std::string name;
  std::vector<size_t> samples;     // pool indices, file order
  std::vector<size_t> test;        // pool indices of its clean test set
  double requested_ratio = 0;
  std::vector<std::string> lines;  // what silos/<name>.jsonl holds
  std::vector<uint8_t> labels;     // 0 clean, 1 low quality
  std::vector<int> kind;           // index into corruption_kinds(), -1 for clean lines
};

struct Partition {
  StudyPool pool;
  std::vector<std::string> corruptions;  // the kinds in use, in turn order
  std::vector<std::vector<size_t>> validation, anchor;  // pool indices per domain
  std::vector<StudySilo> silos;
};

// Parses `clues partition` arguments; throws InputError naming what to fix. False when
// --help was printed.
bool parse_partition_options(const std::vector<std::string>& args, PartitionOptions& o);

// Reads the sources into a pool; a bad line, a missing domain field or a domain name that
// cannot be a file name throws InputError naming file:line.
StudyPool read_pool(const PartitionOptions& o);

// Everything the output folder will hold, in memory; throws InputError when the request
// cannot be met (more silos than samples, k above the number of domains, ...).
Partition make_partition(const PartitionOptions& o, StudyPool pool);

// manifest.json's text: the command, seed, scheme and parameters, every source's size
// and XXH3 hash, and per silo its counts by domain, quality and corruption kind.
std::string partition_manifest(const PartitionOptions& o, const Partition& p);
// composition.svg's text: one stacked bar per silo, by domain, low-quality parts hatched.
std::string composition_svg(const PartitionOptions& o, const Partition& p);

// Writes the folder under a temporary name next to o.out and renames it into place.
void write_partition(const PartitionOptions& o, const Partition& p);

// clues partition ...: returns the exit status; InputError escapes (main makes it exit 2).
int run_partition_command(const std::vector<std::string>& args);

}  // namespace clues
