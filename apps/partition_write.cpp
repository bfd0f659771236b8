// The output folder of `clues partition` (apps/partition.h): silos, labels, test,
// validation and anchor sets, manifest.json and composition.svg, written whole under a
// temporary name beside --out and renamed into place, so a failure leaves nothing.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/partition.h"
#include "apps/partition_corrupt.h"
#include "io/error.h"
#include "io/files.h"

namespace fs = std::filesystem;

namespace clues {

namespace {

using ojson = nlohmann::ordered_json;

std::string shell_quoted(const std::string& a) {
  if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%") == std::string::npos)
    return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

ojson parameters(const PartitionOptions& o, const Partition& p) {
  ojson j;
  j["silos"] = o.silos;
  if (o.scheme == "dirichlet") j["alpha"] = o.alpha;
  if (o.scheme == "k-domains") j["k"] = o.k;
  if (o.scheme == "size-skew") {
    j["skew"] = o.skew;
    if (o.skew != "linear") j["skew_param"] = o.skew_param;
  }
  if (!o.domain_field.empty()) j["domain_field"] = o.domain_field;
  j["validation_size_per_domain"] = o.validation_size;
  j["anchor_size_per_domain"] = o.anchor_size;
  j["test_size_per_silo"] = o.test_size;
  if (!o.bad_ratios.empty()) j["bad_ratios"] = o.bad_ratios;
  if (o.bad_dist == "uniform") j["bad_dist"] = {{"uniform", {{"lo", o.bad_a}, {"hi", o.bad_b}}}};
  if (o.bad_dist == "beta") j["bad_dist"] = {{"beta", {{"a", o.bad_a}, {"b", o.bad_b}}}};
  j["corruptions"] = p.corruptions;
  return j;
}

ojson silo_record(const Partition& p, const StudySilo& silo, bool with_test) {
  const auto& domains = p.pool.domains;
  std::vector<int64_t> clean(domains.size(), 0), bad(domains.size(), 0), test(domains.size(), 0);
  std::vector<int64_t> kinds(corruption_kinds().size(), 0);
  int64_t n_bad = 0;
  for (size_t i = 0; i < silo.samples.size(); ++i) {
    const size_t d = static_cast<size_t>(p.pool.samples[silo.samples[i]].domain);
    (silo.labels[i] ? bad : clean)[d] += 1;
    n_bad += silo.labels[i];
    if (silo.kind[i] >= 0) ++kinds[static_cast<size_t>(silo.kind[i])];
  }
  for (size_t i : silo.test) ++test[static_cast<size_t>(p.pool.samples[i].domain)];
  ojson j;
  j["name"] = silo.name;
  j["file"] = "silos/" + silo.name + ".jsonl";
  j["labels"] = "labels/" + silo.name + ".txt";
  if (with_test) j["test"] = "test/" + silo.name + ".jsonl";
  j["samples"] = silo.samples.size();
  j["low_quality"] = n_bad;
  j["bad_ratio_requested"] = silo.requested_ratio;
  j["bad_ratio"] = silo.samples.empty() ? 0.0 : static_cast<double>(n_bad) / static_cast<double>(silo.samples.size());
  j["test_samples"] = silo.test.size();
  j["domains"] = ojson::object();
  for (size_t d = 0; d < domains.size(); ++d)
    if (clean[d] || bad[d]) j["domains"][domains[d]] = {{"clean", clean[d]}, {"low_quality", bad[d]}};
  j["test_domains"] = ojson::object();
  for (size_t d = 0; d < domains.size(); ++d)
    if (test[d]) j["test_domains"][domains[d]] = test[d];
  j["corruptions"] = ojson::object();
  for (size_t c = 0; c < kinds.size(); ++c)
    if (kinds[c]) j["corruptions"][corruption_kinds()[c].name] = kinds[c];
  return j;
}

// The arguments of `clues run` for this study, relative to the output folder.
std::string run_arguments(const PartitionOptions& o, const Partition& p) {
  std::string a;
  for (const auto& s : p.silos) a += "--silo " + s.name + "=silos/" + s.name + ".jsonl ";
  if (o.validation_size > 0) a += "--validation validation.jsonl ";
  if (o.anchor_size > 0) a += "--anchor anchor.jsonl ";
  for (const auto& s : p.silos) a += "--labels " + s.name + "=labels/" + s.name + ".txt ";
  if (o.test_size > 0)
    for (const auto& s : p.silos) a += "--test " + s.name + "=test/" + s.name + ".jsonl ";
  if (!a.empty()) a.pop_back();
  return a;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw IoError("cannot write " + path.string() + ": check the space and permissions of --out's folder");
}

std::string lines_of(const std::vector<size_t>& idx, const std::vector<PoolSample>& samples) {
  std::string text;
  for (size_t i : idx) text += samples[i].raw + "\n";
  return text;
}

// validation/<domain>.jsonl for every domain and the pooled validation.jsonl (same for anchor).
void write_held_out(const fs::path& dir, const std::string& what, const std::vector<std::vector<size_t>>& sets, const StudyPool& pool) {
  make_dirs((dir / what).string());
  std::string pooled;
  for (size_t d = 0; d < sets.size(); ++d) {
    const std::string text = lines_of(sets[d], pool.samples);
    if (!text.empty()) write_text(dir / what / (pool.domains[d] + ".jsonl"), text);
    pooled += text;
  }
  write_text(dir / (what + ".jsonl"), pooled);
}

void write_contents(const PartitionOptions& o, const Partition& p, const fs::path& dir) {
  for (const char* sub : {"silos", "labels"}) make_dirs((dir / sub).string());
  if (o.test_size > 0) make_dirs((dir / "test").string());
  for (const auto& silo : p.silos) {
    std::string lines, labels;
    for (size_t i = 0; i < silo.lines.size(); ++i) {
      lines += silo.lines[i] + "\n";
      labels += silo.labels[i] ? "1\n" : "0\n";
    }
    write_text(dir / "silos" / (silo.name + ".jsonl"), lines);
    write_text(dir / "labels" / (silo.name + ".txt"), labels);
    if (o.test_size > 0) write_text(dir / "test" / (silo.name + ".jsonl"), lines_of(silo.test, p.pool.samples));
  }
  if (o.validation_size > 0) write_held_out(dir, "validation", p.validation, p.pool);
  if (o.anchor_size > 0) write_held_out(dir, "anchor", p.anchor, p.pool);
  write_text(dir / "composition.svg", composition_svg(o, p));
  write_text(dir / "manifest.json", partition_manifest(o, p));  // last: its presence means the folder is whole
}

}  // namespace

std::string partition_manifest(const PartitionOptions& o, const Partition& p) {
  ojson j;
  j["format"] = "clues partition 1";
  std::string command = "clues partition";
  for (const auto& a : o.args) command += " " + shell_quoted(a);
  j["command"] = command;
  j["seed"] = o.seed;
  j["scheme"] = o.scheme;
  j["parameters"] = parameters(o, p);
  j["sources"] = ojson::array();
  for (size_t i = 0; i < p.pool.sources.size(); ++i) {
    const auto& f = p.pool.sources[i];
    j["sources"].push_back({{"role", f.role}, {"path", f.path}, {"bytes", f.bytes}, {"xxh3", f.hash}, {"samples", p.pool.source_samples[i]}});
  }
  j["domains"] = p.pool.domains;
  for (const char* what : {"validation", "anchor"}) {
    const auto& sets = std::string(what) == "validation" ? p.validation : p.anchor;
    j[what] = ojson::object();
    for (size_t d = 0; d < sets.size(); ++d) j[what][p.pool.domains[d]] = sets[d].size();
  }
  j["silos"] = ojson::array();
  for (const auto& silo : p.silos) j["silos"].push_back(silo_record(p, silo, o.test_size > 0));
  j["clues_run_arguments"] = run_arguments(o, p);
  return j.dump(2) + "\n";
}

void write_partition(const PartitionOptions& o, const Partition& p) {
  fs::path out = fs::path(o.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir"
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  make_dirs(parent.string());
  const std::string tag = "." + out.filename().string() + ".partition-" + std::to_string(::getpid());
  const fs::path tmp = parent / (tag + ".tmp"), old = parent / (tag + ".old");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    make_dirs(tmp.string());
    write_contents(o, p, tmp);
    if (fs::exists(out)) {  // an empty folder, or --overwrite (checked with the options)
      fs::rename(out, old);
      fs::rename(tmp, out, ec);
      if (ec) {  // put the old folder back
        fs::rename(old, out);
        throw fs::filesystem_error("rename", tmp, out, ec);
      }
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, out);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw IoError(std::string("writing ") + o.out + " failed: " + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace clues
