// Unit tests of `clues partition` (apps/partition*.cpp), without LibTorch: the schemes'
// shapes, the injected low quality and its labels, held-out sets, determinism, and every
// refused request (an InputError, exit status 2 from main, and nothing written).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "apps/partition.h"
#include "apps/partition_random.h"
#include "io/error.h"
#include "io/jsonl.h"
#include "io/run_inputs.h"

namespace fs = std::filesystem;
using clues::InputError;
using clues::Partition;
using clues::PartitionOptions;

namespace {

const std::vector<std::string> kDomains = {"alpha", "beta", "delta", "gamma", "omega", "sigma"};

// A fresh folder per test, removed afterwards.
class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("clues_test_partition_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // domain.jsonl with n samples: a unique id, a prompt and a multi-word answer, spaced as
  // Python's json.dumps spaces them (so a clean line re-serialised would show).
  std::string source(const std::string& domain, int n) {
    const std::string path = (dir_ / (domain + ".jsonl")).string();
    std::ofstream out(path);
    for (int i = 0; i < n; ++i) {
      std::string line = nlohmann::ordered_json{{"instruction", "Answer question " + std::to_string(i) + " about " + domain},
                                                {"input", i % 3 ? "context " + std::to_string(i) : ""},
                                                {"output", domain + " answer " + std::to_string(i) + " in several plain words"},
                                                {"id", domain + "-" + std::to_string(i)}}
                             .dump();
      for (const std::string sep : {"\",\"", "\":\""})
        for (size_t at = line.find(sep); at != std::string::npos; at = line.find(sep, at + 2)) line.insert(at + 2, " ");
      out << line << "\n";
    }
    return path;
  }

  // --source args for the first `domains` domains, n samples each.
  std::vector<std::string> sources(size_t domains, int n) {
    std::vector<std::string> a;
    for (size_t d = 0; d < domains; ++d) a.insert(a.end(), {"--source", kDomains[d] + "=" + source(kDomains[d], n)});
    return a;
  }

  std::string out(const std::string& name = "out") { return (dir_ / name).string(); }

  Partition plan(std::vector<std::string> args) {
    PartitionOptions o;
    args.insert(args.end(), {"--out", out()});
    EXPECT_TRUE(clues::parse_partition_options(args, o));
    return clues::make_partition(o, clues::read_pool(o));
  }

  // The exit status main gives: 0, or 2 for an InputError (whose message is kept).
  int run(const std::vector<std::string>& args) {
    try {
      return clues::run_partition_command(args);
    } catch (const InputError& e) {
      message_ = e.what();
      return 2;
    }
  }

  fs::path dir_;
  std::string message_;
};

// Silo s's sample count per domain.
std::vector<std::vector<size_t>> domain_counts(const Partition& p) {
  std::vector<std::vector<size_t>> c(p.silos.size(), std::vector<size_t>(p.pool.domains.size(), 0));
  for (size_t s = 0; s < p.silos.size(); ++s)
    for (size_t i : p.silos[s].samples) ++c[s][static_cast<size_t>(p.pool.samples[i].domain)];
  return c;
}

std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = clues::read_text(e.path().string());
  return files;
}

void by_id(const std::vector<std::string>& lines, std::map<std::string, nlohmann::json>& into) {
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l);
    into[j["id"].get<std::string>()] = j;
  }
}

}  // namespace

TEST_F(PartitionTest, DirichletTinyAlphaConcentratesDomainsLargeAlphaApproachesIid) {
  auto args = sources(6, 120);
  args.insert(args.end(), {"--silos", "3", "--scheme", "dirichlet", "--seed", "5"});
  auto tiny = args, large = args;
  tiny.insert(tiny.end(), {"--alpha", "0.01"});
  large.insert(large.end(), {"--alpha", "1000"});
  const auto c_tiny = domain_counts(plan(tiny)), c_large = domain_counts(plan(large));
  double top_share = 0;  // the mean over domains of the largest share one silo holds
  for (size_t d = 0; d < 6; ++d) {
    size_t top = 0;
    for (const auto& silo : c_tiny) top = std::max(top, silo[d]);
    top_share += static_cast<double>(top) / 120.0 / 6.0;
    for (const auto& silo : c_large)  // each silo close to a third of every domain
      EXPECT_NEAR(static_cast<double>(silo[d]) / 120.0, 1.0 / 3.0, 0.08) << "domain " << d << " under alpha 1000";
  }
  EXPECT_GE(top_share, 0.9) << "under alpha 0.01 a domain sits mostly on one silo";
}

// The generator's Dirichlet, Beta and Gamma draws against their moments (20000 draws):
// E[p_i] = 1/n, Var[p_i] = (1/n)(1 - 1/n)/(n·alpha + 1); E[Beta(a, b)] = a/(a + b).
TEST(PartitionRandom, DrawsMatchTheirMoments) {
  clues::PartitionRng rng(7);
  const int draws = 20000;
  for (double alpha : {0.01, 0.3, 1.0, 20.0}) {
    const size_t n = 3;
    double mean = 0, sq = 0;
    for (int t = 0; t < draws; ++t) {
      const auto p = rng.dirichlet(alpha, n);
      double sum = 0;
      for (double x : p) sum += x;
      ASSERT_NEAR(sum, 1.0, 1e-12);
      mean += p[0] / draws;
      sq += p[0] * p[0] / draws;
    }
    const double var = (1.0 / n) * (1 - 1.0 / n) / (static_cast<double>(n) * alpha + 1);
    EXPECT_NEAR(mean, 1.0 / n, 0.015) << alpha;
    EXPECT_NEAR(sq - mean * mean, var, 0.1 * var) << alpha;
  }
  for (auto [a, b] : std::vector<std::pair<double, double>>{{2, 5}, {0.5, 0.5}, {0.05, 3}}) {
    double mean = 0;
    for (int t = 0; t < draws; ++t) mean += rng.beta(a, b) / draws;
    EXPECT_NEAR(mean, a / (a + b), 0.01) << a << " " << b;
  }
  std::vector<size_t> hits(5, 0);
  for (int t = 0; t < draws; ++t) ++hits[rng.below(5)];
  for (size_t h : hits) EXPECT_NEAR(static_cast<double>(h) / draws, 0.2, 0.015);
}

TEST_F(PartitionTest, KDomainsGivesExactlyKDomainsPerSilo) {
  for (const char* k : {"1", "2", "3"}) {
    auto args = sources(5, 60);
    args.insert(args.end(), {"--silos", "7", "--scheme", "k-domains", "--k", k, "--seed", "3"});
    const Partition p = plan(args);
    std::set<size_t> used;
    for (const auto& silo : domain_counts(p)) {
      size_t held = 0;
      for (size_t d = 0; d < silo.size(); ++d) {
        held += silo[d] > 0;
        if (silo[d]) used.insert(d);
      }
      EXPECT_EQ(held, static_cast<size_t>(std::stoi(k)));
    }
    EXPECT_EQ(used.size(), 5u) << "7 silos >= 5 domains: every domain is used (silo s holds domain s mod 5)";
  }
}

TEST_F(PartitionTest, SizeSkewOrdersSizes) {
  const std::vector<std::pair<std::string, double>> cases = {{"linear", 5.0}, {"power:2", 25.0}, {"exponential:0.5", std::exp(2.0)}};
  for (const auto& [skew, last_over_first] : cases) {
    auto args = sources(3, 400);
    args.insert(args.end(), {"--silos", "5", "--scheme", "size-skew", "--skew", skew});
    const Partition p = plan(args);
    for (size_t s = 1; s < p.silos.size(); ++s) EXPECT_LT(p.silos[s - 1].samples.size(), p.silos[s].samples.size()) << skew;
    const double ratio = static_cast<double>(p.silos.back().samples.size()) / static_cast<double>(p.silos.front().samples.size());
    EXPECT_NEAR(ratio, last_over_first, 0.1 * last_over_first) << skew;
    size_t total = 0;
    for (const auto& s : p.silos) total += s.samples.size();
    EXPECT_EQ(total, 1200u) << "every sample goes to some silo";
  }
}

TEST_F(PartitionTest, IidSizesEqualWithinOne) {
  auto args = sources(3, 101);
  args.insert(args.end(), {"--silos", "4"});
  const Partition p = plan(args);
  for (const auto& s : p.silos) EXPECT_TRUE(s.samples.size() == 75 || s.samples.size() == 76) << s.samples.size();
}

TEST_F(PartitionTest, BadRatiosWithinRoundingOfTheRequest) {
  auto args = sources(4, 97);
  args.insert(args.end(), {"--silos", "6", "--bad-ratios", "0.1,0.3,0.5,0.7", "--seed", "11"});
  const Partition p = plan(args);
  const std::vector<double> want = {0.1, 0.3, 0.5, 0.7, 0.1, 0.3};  // cycled
  for (size_t s = 0; s < p.silos.size(); ++s) {
    const auto& silo = p.silos[s];
    const double n = static_cast<double>(silo.samples.size());
    const double got = static_cast<double>(std::count(silo.labels.begin(), silo.labels.end(), 1)) / n;
    EXPECT_EQ(silo.requested_ratio, want[s]);
    EXPECT_LE(std::abs(got - want[s]), 0.5 / n + 1e-12) << silo.name;
  }
  for (const char* dist : {"uniform:0.2:0.4", "beta:2:5"}) {
    auto a = sources(4, 97);
    a.insert(a.end(), {"--silos", "8", "--bad-dist", dist});
    std::set<double> drawn;
    for (const auto& silo : plan(a).silos) {
      const double n = static_cast<double>(silo.samples.size());
      const double got = static_cast<double>(std::count(silo.labels.begin(), silo.labels.end(), 1)) / n;
      EXPECT_LE(std::abs(got - silo.requested_ratio), 0.5 / n + 1e-12);
      if (std::string(dist).rfind("uniform", 0) == 0) {
        EXPECT_TRUE(silo.requested_ratio >= 0.2 && silo.requested_ratio <= 0.4);
      }
      drawn.insert(silo.requested_ratio);
    }
    EXPECT_EQ(drawn.size(), 8u) << dist << ": one draw per silo";
  }
}

// Every kind alone: each line labelled 1 is its source line with only "output" changed, in
// the way the kind says; each line labelled 0 is its source line byte for byte.
TEST_F(PartitionTest, LabelsMatchCorruptions) {
  const std::set<std::string> refusals = {"I'm sorry, but I can't help with that.",
                                          "As an AI language model, I am unable to answer this request.",
                                          "I cannot provide an answer to this question.", "Sorry, I don't know."};
  auto src_args = sources(3, 50);
  std::map<std::string, nlohmann::json> src;
  std::set<std::string> src_lines;
  for (size_t d = 0; d < 3; ++d)
    for (const auto& l : clues::read_lines((dir_ / (kDomains[d] + ".jsonl")).string())) {
      by_id({l}, src);
      src_lines.insert(l);
    }
  for (const char* kind : {"swap", "truncate", "shuffle", "garble", "echo", "empty", "refusal", "cross-domain"}) {
    auto args = src_args;
    const std::string o = out(std::string("out_") + kind);
    args.insert(args.end(), {"--silos", "2", "--bad-ratios", "0.5", "--corruptions", kind, "--out", o});
    ASSERT_EQ(run(args), 0) << message_;
    size_t bad = 0;
    for (const char* silo : {"silo0", "silo1"}) {
      const auto lines = clues::read_lines(o + "/silos/" + silo + ".jsonl");
      const auto labels = clues::read_labels(o + "/labels/" + silo + ".txt");
      ASSERT_EQ(lines.size(), labels.size());
      for (size_t i = 0; i < lines.size(); ++i) {
        if (!labels[i]) {
          EXPECT_TRUE(src_lines.count(lines[i])) << kind << ": a clean line changed: " << lines[i];
          continue;
        }
        ++bad;
        const auto j = nlohmann::json::parse(lines[i]);
        const auto& s = src.at(j["id"].get<std::string>());
        for (const char* keep : {"instruction", "input", "id"}) EXPECT_EQ(j[keep], s[keep]) << kind;
        const std::string got = j["output"], was = s["output"];
        EXPECT_NE(got, was) << kind;
        const std::string domain = s["id"].get<std::string>().substr(0, s["id"].get<std::string>().find('-'));
        const std::string kind_s = kind;
        if (kind_s == "empty") {
          EXPECT_EQ(got, "");
        }
        if (kind_s == "refusal") {
          EXPECT_TRUE(refusals.count(got)) << got;
        }
        if (kind_s == "echo") {
          EXPECT_EQ(got, s["input"] == "" ? s["instruction"].get<std::string>() : s["instruction"].get<std::string>() + "\n" + s["input"].get<std::string>());
        }
        if (kind_s == "truncate") {
          EXPECT_TRUE(got.size() < was.size() && was.compare(0, got.size(), got) == 0) << got;
        }
        if (kind_s == "garble") {
          EXPECT_EQ(got.size(), was.size());
        }
        if (kind_s == "shuffle") {
          auto a = got, b = was;
          std::sort(a.begin(), a.end());
          std::sort(b.begin(), b.end());
          EXPECT_EQ(a, b) << "the same words in another order: " << got;
        }
        if (kind_s == "swap" || kind_s == "cross-domain") {
          const std::string from = got.substr(0, got.find(' '));  // answers start with their domain
          EXPECT_EQ(from == domain, kind_s == "swap") << kind << ": " << got << " for a sample of " << domain;
        }
      }
    }
    EXPECT_EQ(bad, 76u) << kind << ": round(0.5 · 75) = 38 of each silo's 75";
  }
}

TEST_F(PartitionTest, HeldOutSetsDisjointFromSilosAndEverySampleUsedOnce) {
  auto args = sources(4, 80);
  const std::string o = out();
  args.insert(args.end(), {"--silos", "3", "--validation-size", "5", "--anchor-size", "7", "--test-size", "9",
                           "--bad-ratios", "0.3", "--scheme", "dirichlet", "--alpha", "1", "--out", o});
  ASSERT_EQ(run(args), 0) << message_;
  std::map<std::string, std::string> where;  // id -> the file holding it
  size_t total = 0;
  auto take = [&](const std::string& file) {
    for (const auto& l : clues::read_lines(o + "/" + file)) {
      const std::string id = nlohmann::json::parse(l)["id"];
      EXPECT_TRUE(where.emplace(id, file).second) << id << " in " << file << " and " << where[id];
      ++total;
    }
  };
  for (const auto& d : {"alpha", "beta", "delta", "gamma"}) {
    take(std::string("validation/") + d + ".jsonl");
    take(std::string("anchor/") + d + ".jsonl");
    EXPECT_EQ(clues::read_lines(o + "/validation/" + d + ".jsonl").size(), 5u);
    EXPECT_EQ(clues::read_lines(o + "/anchor/" + d + ".jsonl").size(), 7u);
  }
  for (const auto& s : {"silo0", "silo1", "silo2"}) {
    take(std::string("silos/") + s + ".jsonl");
    take(std::string("test/") + s + ".jsonl");
    EXPECT_EQ(clues::read_lines(o + "/test/" + s + ".jsonl").size(), 9u);
    for (const auto& l : clues::read_lines(o + "/test/" + s + ".jsonl"))  // test sets are clean
      EXPECT_NE(l.find(" in several plain words\""), std::string::npos) << l;
  }
  EXPECT_EQ(total, 320u) << "every source sample in exactly one file";
  EXPECT_EQ(clues::read_lines(o + "/validation.jsonl").size(), 20u);
  EXPECT_EQ(clues::read_lines(o + "/anchor.jsonl").size(), 28u);
}

// The same seed and inputs give the same bytes, again into the same folder (--overwrite)
// or into another one; another seed gives other silos.
TEST_F(PartitionTest, SameSeedSameBytesOtherSeedOtherSilos) {
  auto args = sources(3, 60);
  args.insert(args.end(), {"--silos", "4", "--scheme", "dirichlet", "--validation-size", "3", "--anchor-size", "3",
                           "--test-size", "2", "--bad-dist", "beta:2:3", "--overwrite"});
  auto seeded = [&](const std::string& seed, const std::string& o) {
    auto a = args;
    a.insert(a.end(), {"--seed", seed, "--out", o});
    EXPECT_EQ(run(a), 0) << message_;
    return read_tree(o);
  };
  const auto first = seeded("42", out()), again = seeded("42", out()), elsewhere = seeded("42", out("other"));
  const auto other = seeded("43", out());
  EXPECT_EQ(first, again);
  EXPECT_EQ(first, elsewhere);
  EXPECT_EQ(first.size(), 22u) << "4 silos, 4 labels, 4 tests, 3+1 validation, 3+1 anchor, manifest, svg";
  EXPECT_NE(first.at("silos/silo0.jsonl"), other.at("silos/silo0.jsonl"));
  EXPECT_NE(first.at("manifest.json").find("\"command\": \"clues partition --source alpha="), std::string::npos);
  EXPECT_EQ(first.at("manifest.json").find("--out"), std::string::npos);
}

TEST_F(PartitionTest, ManifestCountsAndSourceHashes) {
  auto args = sources(2, 40);
  const std::string o = out();
  args.insert(args.end(), {"--silos", "2", "--bad-ratios", "0.25,0.5", "--corruptions", "swap,empty", "--out", o});
  ASSERT_EQ(run(args), 0) << message_;
  const auto m = nlohmann::json::parse(clues::read_text(o + "/manifest.json"));
  EXPECT_EQ(m["scheme"], "iid");
  EXPECT_EQ(m["parameters"]["corruptions"], nlohmann::json({"swap", "empty"}));
  ASSERT_EQ(m["sources"].size(), 2u);
  for (const auto& s : m["sources"]) {
    EXPECT_EQ(s["xxh3"], clues::hash_file(s["path"]));
    EXPECT_EQ(s["bytes"].get<int64_t>(), static_cast<int64_t>(fs::file_size(s["path"].get<std::string>())));
    EXPECT_EQ(s["samples"], 40);
  }
  for (const auto& silo : m["silos"]) {
    const auto labels = clues::read_labels(o + "/" + silo["labels"].get<std::string>());
    int64_t clean = 0, bad = 0, kinds = 0;
    for (const auto& [d, c] : silo["domains"].items()) clean += c["clean"].get<int64_t>(), bad += c["low_quality"].get<int64_t>();
    for (const auto& [k, c] : silo["corruptions"].items()) kinds += c.get<int64_t>();
    EXPECT_EQ(clean + bad, static_cast<int64_t>(labels.size()));
    EXPECT_EQ(bad, std::count(labels.begin(), labels.end(), 1));
    EXPECT_EQ(kinds, bad);
    EXPECT_EQ(silo["low_quality"], bad);
  }
  const std::string svg = clues::read_text(o + "/composition.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<title>silo1 beta: "), std::string::npos);
}

TEST_F(PartitionTest, DomainFieldNamesEachLinesDomain) {
  const std::string path = (dir_ / "pooled.jsonl").string();
  {
    std::ofstream f(path);
    for (int i = 0; i < 30; ++i)
      f << nlohmann::json{{"instruction", "q" + std::to_string(i)}, {"output", "a" + std::to_string(i)}, {"lang", i % 3 ? "en" : "de"}}.dump() << "\n";
  }
  const Partition p = plan({"--source", path, "--domain-field", "lang", "--silos", "2"});
  EXPECT_EQ(p.pool.domains, (std::vector<std::string>{"de", "en"}));
  size_t de = 0;
  for (const auto& s : p.pool.samples) de += s.domain == 0;
  EXPECT_EQ(de, 10u);
}

// Each refused request: an InputError whose message names what to fix, and no output
// folder (nor any temporary one) left behind.
TEST_F(PartitionTest, BadRequestsExitTwoAndWriteNothing) {
  const auto base = sources(3, 20);
  const std::string pooled = (dir_ / "pooled.jsonl").string();
  {
    std::ofstream f(pooled);
    f << R"({"instruction":"a","output":"b","lang":"en"})" << "\n" << R"({"instruction":"c","output":"d"})" << "\n";
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--silos", "2", "--scheme", "dirichlet", "--alpha", "0"}, "--alpha must be > 0"},
      {{"--silos", "2", "--scheme", "dirichlet", "--alpha", "-1"}, "--alpha must be > 0"},
      {{"--silos", "61"}, "more silos (61) than samples"},
      {{"--silos", "30", "--test-size", "2"}, "lower --silos or --test-size"},
      {{"--silos", "2", "--scheme", "k-domains", "--k", "4"}, "--k 4 is more than the 3 domains"},
      {{"--silos", "2", "--corruptions", "swap,mangle"}, "unknown corruption kind \"mangle\""},
      {{"--silos", "2", "--bad-ratios", "0.1,1.0"}, "1.0 is outside [0, 1)"},
      {{"--silos", "2", "--bad-ratios", "-0.1"}, "-0.1 is outside [0, 1)"},
      {{"--silos", "2", "--bad-ratios", "0.1,0.2,0.3"}, "3 ratios for 2 silos"},
      {{"--silos", "2", "--bad-dist", "uniform:0.5:1"}, "0 <= LO <= HI < 1"},
      {{"--silos", "2", "--validation-size", "15", "--anchor-size", "6"}, "fewer than --validation-size 15 + --anchor-size 6"},
      {{"--silos", "2", "--scheme", "iid", "--k", "2"}, "--k applies to --scheme k-domains only"},
      {{"--silos", "2", "--scheme", "fancy"}, "unknown scheme \"fancy\""},
      {{"--silos", "2", "--skew", "linear"}, "--skew applies to --scheme size-skew only"},
  };
  for (const auto& [extra, why] : cases) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--out", out()});
    message_.clear();
    EXPECT_EQ(run(args), 2) << why;
    EXPECT_NE(message_.find(why), std::string::npos) << "message: " << message_ << "\nexpected: " << why;
    EXPECT_FALSE(fs::exists(out())) << why;
  }
  message_.clear();
  EXPECT_EQ(run({"--source", pooled, "--domain-field", "lang", "--silos", "1", "--out", out()}), 2);
  EXPECT_NE(message_.find(pooled + ":2: no field \"lang\""), std::string::npos) << message_;
  EXPECT_FALSE(fs::exists(out()));
  // An existing, non-empty --out is kept as it was unless --overwrite.
  fs::create_directories(out());
  std::ofstream(out() + "/keep.txt") << "mine\n";
  auto args = base;
  args.insert(args.end(), {"--silos", "2", "--out", out()});
  EXPECT_EQ(run(args), 2);
  EXPECT_NE(message_.find("exists and is not empty: give --overwrite"), std::string::npos) << message_;
  EXPECT_EQ(read_tree(out()).size(), 1u);
  args.push_back("--overwrite");
  EXPECT_EQ(run(args), 0) << message_;
  EXPECT_FALSE(fs::exists(out() + "/keep.txt"));
  EXPECT_TRUE(fs::exists(out() + "/manifest.json"));
  for (const auto& e : fs::directory_iterator(dir_))  // no temporary folder left beside --out
    EXPECT_EQ(e.path().filename().string().find(".out.partition-"), std::string::npos) << e.path();
}
