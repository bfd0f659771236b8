// Run inputs by content (io/run_inputs.h).
#include "io/run_inputs.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/files.h"
#include "io/jsonl.h"

namespace clues {

std::string hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path + " for reading: check the path");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(st.get());
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) XXH3_64bits_update(st.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw IoError("reading " + path + " failed");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(st.get())));
  return hex;
}

InputFile describe_input(const std::string& role, const std::string& path) {
  InputFile f;
  f.role = role;
  f.path = path;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  f.bytes = in ? static_cast<int64_t>(in.tellg()) : 0;
  f.hash = hash_file(path);
  return f;
}

void write_run_inputs(const std::string& path, const RunInputs& inputs) {
  nlohmann::ordered_json j;
  j["format"] = "clues run inputs 1";
  j["settings"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : inputs.settings) j["settings"][k] = v;
  j["files"] = nlohmann::ordered_json::array();
  for (const auto& f : inputs.files)
    j["files"].push_back({{"role", f.role}, {"path", f.path}, {"bytes", f.bytes}, {"xxh3", f.hash}});
  write_text_atomic(path, j.dump(1) + "\n");
}

RunInputs read_run_inputs(const std::string& path) {
  RunInputs r;
  try {
    const auto j = nlohmann::json::parse(read_text(path));
    if (j.value("format", std::string()) != "clues run inputs 1") throw InputError("unknown format");
    for (const auto& [k, v] : j.at("settings").items()) r.settings.emplace_back(k, v.get<std::string>());
    for (const auto& f : j.at("files"))
      r.files.push_back({f.at("role").get<std::string>(), f.at("path").get<std::string>(), f.at("bytes").get<int64_t>(),
                         f.at("xxh3").get<std::string>()});
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + " is not a run-inputs file of clues (" + std::string(e.what()).substr(0, 160) + ")");
  } catch (const InputError& e) {
    throw InputError(path + " is not a run-inputs file of clues (" + e.what() + ")");
  }
  return r;
}

std::vector<std::string> run_input_changes(const RunInputs& then, const RunInputs& now) {
  std::vector<std::string> out;
  std::map<std::string, std::string> a(then.settings.begin(), then.settings.end());
  std::map<std::string, std::string> b(now.settings.begin(), now.settings.end());
  for (const auto& [k, v] : now.settings) {
    auto it = a.find(k);
    if (it == a.end()) out.push_back("setting " + k + " = " + v + " is new");
    else if (it->second != v) out.push_back("setting " + k + ": " + it->second + " when the run started, " + v + " now");
  }
  for (const auto& [k, v] : then.settings)
    if (!b.count(k)) out.push_back("setting " + k + " = " + v + " is no longer given");
  std::map<std::string, const InputFile*> fa, fb;
  for (const auto& f : then.files) fa[f.role] = &f;
  for (const auto& f : now.files) fb[f.role] = &f;
  for (const auto& f : now.files) {
    auto it = fa.find(f.role);
    if (it == fa.end()) {
      out.push_back(f.role + " (" + f.path + ") was not an input when the run started");
    } else if (it->second->hash != f.hash || it->second->bytes != f.bytes) {
      out.push_back(f.role + ": " + f.path + " differs from the file the run started with (" + it->second->path + ", " +
                    std::to_string(it->second->bytes) + " bytes then, " + std::to_string(f.bytes) +
                    " now; content hash " + it->second->hash + " then, " + f.hash + " now)");
    }
  }
  for (const auto& f : then.files)
    if (!fb.count(f.role)) out.push_back(f.role + " (" + f.path + ") was an input when the run started and is not given now");
  return out;
}

}  // namespace clues
