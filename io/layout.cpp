// File names of a run's output folder (io/layout.h).
#include "io/layout.h"

#include <cstdio>
#include <filesystem>

#include "io/error.h"
#include "io/files.h"

namespace clues {

namespace {
std::string numbered(const char* prefix, int64_t round) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%03lld", prefix, static_cast<long long>(round));
  return buf;
}
}  // namespace

std::string RunLayout::features(const std::string& set, int64_t round) const {
  return features_dir() + "/" + set + numbered("_round_", round) + ".h5";
}
std::string RunLayout::round(int64_t round) const { return checkpoints() + "/" + numbered("round_", round) + ".h5"; }
std::string RunLayout::silo_moments(int64_t round, const std::string& silo) const {
  return checkpoints() + "/" + numbered("round_", round) + "_silo_" + silo + ".h5";
}
std::string RunLayout::dots_journal(int64_t round, const std::string& set) const {
  return checkpoints() + "/" + numbered("dots_round_", round) + "_" + set + ".bin";
}
std::string RunLayout::silo_state(const std::string& phase, const std::string& silo) const {
  return checkpoints() + "/state_" + phase + "_" + silo + ".bin";
}

void RunLayout::remove_silo_state(const std::string& phase, const std::string& silo) const {
  namespace fs = std::filesystem;
  const std::string name = fs::path(silo_state(phase, silo)).filename().string();
  if (!fs::exists(checkpoints())) return;
  for (const auto& e : fs::directory_iterator(checkpoints())) {
    const std::string f = e.path().filename().string();
    if (f == name || f.rfind(name + ".tmp.", 0) == 0) fs::remove(e.path());
  }
}

const std::vector<std::string>& RunLayout::entries() {
  static const std::vector<std::string> e = {"report.json",    "scores.h5",     "selected", "checkpoints",
                                             "run_config.ini", "comparison.md", "features",    "adapter", "model", "run_inputs.json"};
  return e;
}

bool RunLayout::is_run() const { return std::filesystem::exists(marker()) || std::filesystem::exists(run_config()); }

void RunLayout::mark() const {
  write_text_atomic(marker(), "This folder holds a run of clues; clues run --overwrite removes only what clues wrote here.\n");
}

void RunLayout::clear() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : entries()) {
    const fs::path p = fs::path(out_) / e;
    fs::remove_all(p, ec);
    if (ec) throw IoError("cannot remove " + p.string() + ": " + ec.message());
  }
  // report.json.tmp.<pid> and the like: temporaries of the entries above, left by a killed write.
  std::vector<fs::path> temporaries;
  for (const auto& f : fs::directory_iterator(out_)) {
    const std::string name = f.path().filename().string();
    for (const auto& e : entries())
      if (name.rfind(e + ".tmp.", 0) == 0 && name.find_first_not_of("0123456789", e.size() + 5) == std::string::npos)
        temporaries.push_back(f.path());
  }
  for (const auto& t : temporaries) {
    fs::remove_all(t, ec);
    if (ec) throw IoError("cannot remove " + t.string() + ": " + ec.message());
  }
}

}  // namespace clues
