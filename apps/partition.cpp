// `clues partition` (apps/partition.h): its options, reading the pooled sources, and the
// in-memory plan of the study (held-out sets, silos, injected low-quality lines). Writing
// the folder is apps/partition_write.cpp; the schemes and corruptions are tables of their own.
#include "apps/partition.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "apps/partition_corrupt.h"
#include "apps/partition_random.h"
#include "apps/partition_schemes.h"
#include "io/error.h"
#include "io/jsonl.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace clues {

namespace {

const char* kHint = "\nHINT: `clues partition --help` lists every option";

int64_t parse_int(const std::string& opt, const std::string& text, int64_t lo) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw InputError("--" + opt + ": \"" + text + "\" is not a whole number");
  if (v < lo) throw InputError("--" + opt + " must be at least " + std::to_string(lo) + " (got " + text + ")");
  return v;
}

double parse_double(const std::string& opt, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) throw InputError("--" + opt + ": \"" + text + "\" is not a number");
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) parts.push_back(item);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

// A domain names files (validation/<domain>.jsonl): letters, digits, '.', '_', '-'.
bool valid_domain(const std::string& d) {
  if (d.empty() || d.size() > 100 || d[0] == '.') return false;
  for (char c : d)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::string silo_name(size_t s, size_t n) {
  const size_t width = std::to_string(n - 1).size();
  std::string digits = std::to_string(s);
  return "silo" + std::string(width - digits.size(), '0') + digits;
}

// The --bad-ratios list or the --bad-dist distribution, checked.
void parse_quality(const std::string& ratios, const std::string& dist, PartitionOptions& o) {
  if (!ratios.empty() && !dist.empty()) throw InputError("give --bad-ratios or --bad-dist, not both");
  for (const auto& r : ratios.empty() ? std::vector<std::string>{} : split(ratios, ',')) {
    const double v = parse_double("bad-ratios", r);
    if (!(v >= 0 && v < 1))
      throw InputError("--bad-ratios: " + r + " is outside [0, 1): a ratio is the share of a silo's samples made low quality");
    o.bad_ratios.push_back(v);
  }
  if (static_cast<int64_t>(o.bad_ratios.size()) > o.silos)
    throw InputError("--bad-ratios gives " + std::to_string(o.bad_ratios.size()) + " ratios for " + std::to_string(o.silos) +
                     " silos: give one per silo, or fewer to be cycled");
  if (dist.empty()) return;
  const auto parts = split(dist, ':');
  if (parts.size() != 3 || (parts[0] != "uniform" && parts[0] != "beta"))
    throw InputError("--bad-dist: \"" + dist + "\" is not uniform:LO:HI or beta:A:B");
  o.bad_dist = parts[0];
  o.bad_a = parse_double("bad-dist", parts[1]);
  o.bad_b = parse_double("bad-dist", parts[2]);
  if (o.bad_dist == "uniform" && !(o.bad_a >= 0 && o.bad_a <= o.bad_b && o.bad_b < 1))
    throw InputError("--bad-dist uniform:LO:HI needs 0 <= LO <= HI < 1 (got " + dist + ")");
  if (o.bad_dist == "beta" && !(o.bad_a > 0 && o.bad_b > 0))
    throw InputError("--bad-dist beta:A:B needs A > 0 and B > 0 (got " + dist + ")");
}

// --skew linear | exponential[:P] | power[:P].
void parse_skew(const std::string& skew, PartitionOptions& o) {
  const auto parts = split(skew, ':');
  o.skew = parts.empty() ? "" : parts[0];
  if (o.skew != "linear" && o.skew != "exponential" && o.skew != "power")
    throw InputError("--skew: \"" + skew + "\" is not linear, exponential[:P] or power[:P]");
  if (o.skew == "linear" && parts.size() > 1) throw InputError("--skew linear takes no parameter (sizes grow as 1, 2, ..., N)");
  if (parts.size() > 2) throw InputError("--skew: \"" + skew + "\" has more than one parameter");
  o.skew_param = parts.size() == 2 ? parse_double("skew", parts[1]) : o.skew == "power" ? 2.0 : 1.0;
  if (o.skew != "linear" && !(o.skew_param > 0)) throw InputError("--skew " + o.skew + ":P needs P > 0 (got " + skew + ")");
}

void parse_sources(const std::vector<std::string>& given, PartitionOptions& o) {
  if (given.empty()) throw InputError("give the data: --source NAME=PATH per domain, or one --source PATH with --domain-field FIELD");
  if (!o.domain_field.empty() && given.size() != 1)
    throw InputError("--domain-field reads the domains from one file: give exactly one --source PATH (got " +
                     std::to_string(given.size()) + ")");
  std::set<std::string> names;
  for (const auto& g : given) {
    const size_t eq = g.find('=');
    PartitionOptions::Source s;
    s.path = eq == std::string::npos ? g : g.substr(eq + 1);
    s.name = eq == std::string::npos ? fs::path(g).stem().string() : g.substr(0, eq);
    if (!o.domain_field.empty()) s.name.clear();
    if (o.domain_field.empty() && !valid_domain(s.name))
      throw InputError("--source " + g + ": the domain name \"" + s.name + "\" must be letters, digits, '.', '_' or '-' "
                       "(it names files); write NAME=PATH");
    if (o.domain_field.empty() && !names.insert(s.name).second)
      throw InputError("--source: domain \"" + s.name + "\" is given twice; one file per domain");
    o.sources.push_back(s);
  }
}

// An existing --out must be an empty folder, or replaced with --overwrite.
void check_out(const PartitionOptions& o) {
  std::error_code ec;
  if (!fs::exists(o.out, ec)) return;
  if (!fs::is_directory(o.out, ec)) throw InputError("--out " + o.out + " is a file, not a folder: give another --out");
  if (!fs::is_empty(o.out, ec) && !o.overwrite)
    throw InputError("--out " + o.out + " exists and is not empty: give --overwrite to replace it, or another --out");
}

// The options that define the study, in the table's order, for the manifest: --out and
// --overwrite left out, so the same study written to another folder is the same bytes.
std::vector<std::string> canonical_args(const po::options_description& d, const po::variables_map& vm) {
  std::vector<std::string> a;
  for (const auto& opt : d.options()) {
    const std::string name = opt->long_name();
    if (name == "help" || name == "out" || name == "overwrite" || !vm.count(name) || vm[name].defaulted()) continue;
    if (name == "source") {
      for (const auto& v : vm[name].as<std::vector<std::string>>()) a.insert(a.end(), {"--source", v});
    } else {
      a.insert(a.end(), {"--" + name, vm[name].as<std::string>()});
    }
  }
  return a;
}

}  // namespace

bool parse_partition_options(const std::vector<std::string>& args, PartitionOptions& o) {
  po::options_description d(
      "clues partition: split pooled JSONL data into silos for a study, hold out validation, anchor and test sets,\n"
      "inject low-quality samples (labels written); see docs/studies.md\n"
      "usage: clues partition --source NAME=PATH [--source ...] --silos N --out DIR [options]");
  std::vector<std::string> sources;
  std::string silos, seed = "0", alpha, k, skew, val = "0", anchor = "0", test = "0", ratios, dist, corruptions;
  std::string schemes, kinds;
  for (const auto& s : partition_schemes()) schemes += std::string(schemes.empty() ? "" : " | ") + s.name;
  for (const auto& c : corruption_kinds()) kinds += std::string(kinds.empty() ? "" : ",") + c.name;
  d.add_options()("help,h", "print this help")
      ("source", po::value(&sources), "NAME=PATH: one JSONL file per domain (repeatable; PATH alone: NAME is its stem)")
      ("domain-field", po::value(&o.domain_field), "with one --source PATH: each line's domain is this field's value")
      ("silos", po::value(&silos), "number of silos (required)")
      ("scheme", po::value(&o.scheme)->default_value(o.scheme), (schemes + ": how samples are split over silos").c_str())
      ("alpha", po::value(&alpha), "dirichlet: concentration, > 0 (default 0.5; small: domains on few silos)")
      ("k", po::value(&k), "k-domains: domains per silo, 1..number of domains (required there)")
      ("skew", po::value(&skew), "size-skew: linear | exponential[:P] (exp(P·i), P=1) | power[:P] (i^P, P=2)")
      ("validation-size", po::value(&val)->default_value(val), "public validation samples held out per domain")
      ("anchor-size", po::value(&anchor)->default_value(anchor), "public anchor samples held out per domain")
      ("test-size", po::value(&test)->default_value(test), "clean test samples held out per silo")
      ("bad-ratios", po::value(&ratios), "low-quality share per silo, in [0, 1), comma-separated (cycled over silos)")
      ("bad-dist", po::value(&dist), "low-quality share per silo drawn from uniform:LO:HI or beta:A:B")
      ("corruptions", po::value(&corruptions), ("kinds of low quality, comma-separated, taking turns (default all): " + kinds).c_str())
      ("seed", po::value(&seed)->default_value(seed), "seed of every random choice")
      ("out", po::value(&o.out), "output folder (required)")
      ("overwrite", po::bool_switch(&o.overwrite), "replace an existing, non-empty --out");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(d).run(), vm);
    if (vm.count("help")) {
      std::cout << d;
      return false;
    }
    po::notify(vm);
  } catch (const po::error_with_option_name& e) {
    // Boost's message substitution loops forever on a '%' in a name (see apps/options.cpp).
    if (e.get_option_name().find('%') != std::string::npos) throw InputError(std::string("unrecognised option") + kHint);
    throw InputError(std::string(e.what()) + kHint);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + kHint);
  }
  o.args = canonical_args(d, vm);
  if (silos.empty()) throw InputError(std::string("--silos is required: the number of silos to make") + kHint);
  if (o.out.empty()) throw InputError(std::string("--out is required: the folder to write the study into") + kHint);
  o.silos = parse_int("silos", silos, 1);
  o.seed = static_cast<uint64_t>(parse_int("seed", seed, 0));
  o.validation_size = parse_int("validation-size", val, 0);
  o.anchor_size = parse_int("anchor-size", anchor, 0);
  o.test_size = parse_int("test-size", test, 0);
  find_scheme(o.scheme);
  const auto only_for = [&](const char* opt, const std::string& value, const char* scheme) {
    if (!value.empty() && o.scheme != scheme)
      throw InputError(std::string("--") + opt + " applies to --scheme " + scheme + " only (the scheme is " + o.scheme + ")");
  };
  only_for("alpha", alpha, "dirichlet");
  only_for("k", k, "k-domains");
  only_for("skew", skew, "size-skew");
  if (!alpha.empty()) o.alpha = parse_double("alpha", alpha);
  if (!(o.alpha > 0)) throw InputError("--alpha must be > 0 (got " + alpha + "): it is the Dirichlet concentration");
  if (o.scheme == "k-domains") {
    if (k.empty()) throw InputError("--scheme k-domains needs --k: the number of domains per silo");
    o.k = parse_int("k", k, 1);
  }
  parse_skew(skew.empty() ? "linear" : skew, o);
  parse_quality(ratios, dist, o);
  for (const auto& c : corruptions.empty() ? std::vector<std::string>{} : split(corruptions, ',')) {
    find_corruption(c);
    o.corruptions.push_back(c);
  }
  parse_sources(sources, o);
  check_out(o);
  return true;
}

StudyPool read_pool(const PartitionOptions& o) {
  std::vector<std::pair<std::string, PoolSample>> tagged;
  StudyPool pool;
  for (const auto& src : o.sources) {
    const std::vector<Record> records = read_jsonl(src.path);
    for (size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      const std::string where = src.path + ":" + std::to_string(i + 1);
      if (r.pretokenized())
        throw InputError(where + ": a pre-tokenized line; clues partition corrupts the \"output\" field, so every line "
                                 "needs \"instruction\" and \"output\"");
      std::string domain = src.name;
      if (!o.domain_field.empty()) {
        const auto j = nlohmann::json::parse(r.raw);
        const auto f = j.find(o.domain_field);
        if (f == j.end() || f->is_null())
          throw InputError(where + ": no field \"" + o.domain_field + "\" (--domain-field)\nHINT: every line needs its domain in that field");
        domain = f->is_string() ? f->get<std::string>() : f->dump();
        if (!valid_domain(domain))
          throw InputError(where + ": domain \"" + domain.substr(0, 60) + "\" in field \"" + o.domain_field +
                           "\" must be letters, digits, '.', '_' or '-' (it names files)");
      }
      tagged.push_back({domain, PoolSample{0, r.raw, r.instruction, r.input, r.output}});
    }
    pool.sources.push_back(describe_input(src.name.empty() ? "source" : "source " + src.name, src.path));
    pool.source_samples.push_back(static_cast<int64_t>(records.size()));
  }
  std::map<std::string, int> index;  // sorted domains, as Flower sorts its labels
  for (const auto& t : tagged) index.emplace(t.first, 0);
  for (auto& [name, i] : index) {
    i = static_cast<int>(pool.domains.size());
    pool.domains.push_back(name);
  }
  std::vector<std::vector<PoolSample>> by(pool.domains.size());
  for (auto& t : tagged) {
    t.second.domain = index[t.first];
    by[static_cast<size_t>(t.second.domain)].push_back(std::move(t.second));
  }
  for (auto& v : by)
    for (auto& s : v) pool.samples.push_back(std::move(s));
  return pool;
}

namespace {

// Per domain, the first --validation-size then --anchor-size of its shuffled samples; the
// rest (ascending pool order) is what the scheme partitions.
std::vector<size_t> hold_out(const PartitionOptions& o, Partition& p) {
  const size_t n_domains = p.pool.domains.size();
  std::vector<std::vector<size_t>> by(n_domains);
  for (size_t i = 0; i < p.pool.samples.size(); ++i) by[static_cast<size_t>(p.pool.samples[i].domain)].push_back(i);
  PartitionRng rng = PartitionRng::derived(o.seed, "hold-out");
  const size_t n_val = static_cast<size_t>(o.validation_size), n_anchor = static_cast<size_t>(o.anchor_size);
  std::vector<size_t> rest;
  p.validation.resize(n_domains);
  p.anchor.resize(n_domains);
  for (size_t d = 0; d < n_domains; ++d) {
    if (by[d].size() < n_val + n_anchor)
      throw InputError("domain \"" + p.pool.domains[d] + "\" has " + std::to_string(by[d].size()) + " samples, fewer than " +
                       "--validation-size " + std::to_string(n_val) + " + --anchor-size " + std::to_string(n_anchor) +
                       "\nHINT: lower them (they are per domain)");
    rng.shuffle(by[d]);
    p.validation[d].assign(by[d].begin(), by[d].begin() + static_cast<std::ptrdiff_t>(n_val));
    p.anchor[d].assign(by[d].begin() + static_cast<std::ptrdiff_t>(n_val), by[d].begin() + static_cast<std::ptrdiff_t>(n_val + n_anchor));
    rest.insert(rest.end(), by[d].begin() + static_cast<std::ptrdiff_t>(n_val + n_anchor), by[d].end());
    std::sort(p.validation[d].begin(), p.validation[d].end());
    std::sort(p.anchor[d].begin(), p.anchor[d].end());
  }
  std::sort(rest.begin(), rest.end());
  return rest;
}

// The scheme's split of `rest` into silos, each shuffled, its first --test-size held out clean.
void split_silos(const PartitionOptions& o, const std::vector<size_t>& rest, Partition& p) {
  const size_t n_silos = static_cast<size_t>(o.silos), min_size = static_cast<size_t>(o.test_size) + 1;
  const std::string held = " (after holding out --validation-size and --anchor-size per domain)";
  if (rest.size() < n_silos)
    throw InputError("more silos (" + std::to_string(n_silos) + ") than samples to partition (" + std::to_string(rest.size()) +
                     held + ")\nHINT: lower --silos, or give more data");
  if (rest.size() < n_silos * min_size)
    throw InputError(std::to_string(n_silos) + " silos with --test-size " + std::to_string(o.test_size) + " need at least " +
                     std::to_string(n_silos * min_size) + " samples; " + std::to_string(rest.size()) + " are left" + held +
                     "\nHINT: lower --silos or --test-size");
  std::vector<int> domain(rest.size());
  for (size_t i = 0; i < rest.size(); ++i) domain[i] = p.pool.samples[rest[i]].domain;
  const PartitionScheme& scheme = find_scheme(o.scheme);
  PartitionRng rng = PartitionRng::derived(o.seed, "partition");
  const SiloItems items = scheme.assign(SchemeInput{domain, p.pool.domains, min_size, o}, rng);
  p.silos.resize(n_silos);
  for (size_t s = 0; s < n_silos; ++s) {
    StudySilo& silo = p.silos[s];
    silo.name = silo_name(s, n_silos);
    if (items[s].size() < min_size)
      throw InputError("--scheme " + o.scheme + " gives " + silo.name + " " + std::to_string(items[s].size()) +
                       " samples; it needs " + std::to_string(min_size) + " (--test-size and one more)\nHINT: " + scheme.hint);
    std::vector<size_t> mine;
    for (size_t i : items[s]) mine.push_back(rest[i]);
    std::sort(mine.begin(), mine.end());  // canonical before the silo's own shuffle
    PartitionRng order = PartitionRng::derived(o.seed, "silo order " + std::to_string(s));
    order.shuffle(mine);
    silo.test.assign(mine.begin(), mine.begin() + o.test_size);
    silo.samples.assign(mine.begin() + o.test_size, mine.end());
  }
}

// The requested low-quality share of every silo: the list cycled, or drawn.
std::vector<double> bad_ratios(const PartitionOptions& o) {
  std::vector<double> r(static_cast<size_t>(o.silos), 0.0);
  PartitionRng rng = PartitionRng::derived(o.seed, "bad ratios");
  for (size_t s = 0; s < r.size(); ++s) {
    if (!o.bad_ratios.empty()) r[s] = o.bad_ratios[s % o.bad_ratios.size()];
    else if (o.bad_dist == "uniform") r[s] = o.bad_a + (o.bad_b - o.bad_a) * rng.uniform();
    else if (o.bad_dist == "beta") r[s] = std::min(rng.beta(o.bad_a, o.bad_b), 1.0 - 1e-9);
  }
  return r;
}

}  // namespace

Partition make_partition(const PartitionOptions& o, StudyPool pool) {
  Partition p;
  p.pool = std::move(pool);
  const size_t n_domains = p.pool.domains.size();
  if (o.scheme == "k-domains" && static_cast<size_t>(o.k) > n_domains)
    throw InputError("--k " + std::to_string(o.k) + " is more than the " + std::to_string(n_domains) +
                     " domains in the data\nHINT: --k must be at most the number of domains");
  std::vector<int> kinds;
  for (const auto& c : o.corruptions) kinds.push_back(find_corruption(c));
  if (kinds.empty())  // all kinds; cross-domain only where there are two domains
    for (const auto& c : corruption_kinds())
      if (n_domains > 1 || std::string(c.name) != "cross-domain") kinds.push_back(find_corruption(c.name));
  if (n_domains < 2 && std::find(kinds.begin(), kinds.end(), find_corruption("cross-domain")) != kinds.end())
    throw InputError("--corruptions cross-domain needs at least two domains; the data has one");
  for (int c : kinds) p.corruptions.push_back(corruption_kinds()[static_cast<size_t>(c)].name);
  const std::vector<size_t> rest = hold_out(o, p);
  split_silos(o, rest, p);
  Donors donors;
  donors.samples = &p.pool.samples;
  donors.by_domain.resize(n_domains);
  for (const auto& silo : p.silos)
    for (size_t i : silo.samples) donors.by_domain[static_cast<size_t>(p.pool.samples[i].domain)].push_back(i);
  for (auto& v : donors.by_domain) std::sort(v.begin(), v.end());
  const std::vector<double> ratios = bad_ratios(o);
  for (size_t s = 0; s < p.silos.size(); ++s) {
    p.silos[s].requested_ratio = ratios[s];
    PartitionRng rng = PartitionRng::derived(o.seed, "inject " + std::to_string(s));
    inject(p.silos[s], p.pool.samples, ratios[s], kinds, donors, rng);
  }
  return p;
}

int run_partition_command(const std::vector<std::string>& args) {
  PartitionOptions o;
  if (!parse_partition_options(args, o)) return 0;
  const Partition p = make_partition(o, read_pool(o));
  write_partition(o, p);
  std::vector<size_t> used(p.pool.domains.size(), 0);
  for (const auto& silo : p.silos) {
    size_t bad = 0;
    std::vector<size_t> by(p.pool.domains.size(), 0);
    for (size_t i = 0; i < silo.samples.size(); ++i) {
      bad += silo.labels[i];
      ++by[static_cast<size_t>(p.pool.samples[silo.samples[i]].domain)];
    }
    std::cout << silo.name << ": " << silo.samples.size() << " samples, " << bad << " low quality, " << silo.test.size()
              << " test;";
    for (size_t d = 0; d < by.size(); ++d) {
      used[d] += by[d];
      if (by[d]) std::cout << " " << p.pool.domains[d] << " " << by[d];
    }
    std::cout << "\n";
  }
  for (size_t d = 0; d < used.size(); ++d)
    if (!used[d]) std::cerr << "clues partition: note: domain \"" << p.pool.domains[d] << "\" went to no silo\n";
  std::cout << "wrote " << o.out << " (manifest.json, composition.svg)\n";
  return 0;
}

}  // namespace clues
