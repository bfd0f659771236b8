// `clues run` options (apps/options.h): one Boost option per key of lib's key table
// (config_keys), the same for the command line and the --config INI file.
#include "apps/options.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "io/error.h"

namespace po = boost::program_options;

namespace clues {

namespace {

// The values Boost will put into an error's message template (option name, original
// token, an invalid config line, ...): protected in Boost, read through a member pointer.
struct Substitutions : po::error_with_option_name {
  static const std::map<std::string, std::string>& of(const po::error_with_option_name& e) {
    return e.*(&Substitutions::m_substitutions);
  }
};

// True when what() is safe: Boost's placeholder substitution loops forever when a value
// holds a '%' (e.g. a config line "%invalid_line%"; found by fuzz_config).
bool substitution_is_safe(const po::error_with_option_name& e) {
  for (const auto& [key, value] : Substitutions::of(e))
    if (value.find('%') != std::string::npos) return false;
  return true;
}

// "0.003" for the help text, not the exact "0.0030000000000000001".
std::string shown(const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') return value;
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string default_cache() {
  const char* env = std::getenv("CLUES_CACHE");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  return env && *env ? std::string(env)
         : xdg && *xdg ? std::string(xdg) + "/clues"
         : home && *home ? std::string(home) + "/.cache/clues"
         : std::string(".clues_cache");
}

}  // namespace

bool parse_run_options(const std::vector<std::string>& args, Config& cfg, std::string& help) {
  po::options_description general("clues run: collaborative data selection (CLUES)");
  general.add_options()
      ("help,h", "print this help")
      ("config", po::value<std::string>(), "INI file with any of these keys; the command line wins")
      ("resume", po::bool_switch(&cfg.resume), "continue an unfinished run in --out from its checkpoints")
      ("overwrite", po::bool_switch(&cfg.overwrite), "replace what --out holds");
  // Sections in the order the key table first names them.
  std::vector<std::pair<std::string, po::options_description>> sections;
  const Config defaults;
  for (const auto& k : config_keys()) {
    const auto dot = k.name.find('.');
    const std::string sec = dot == std::string::npos ? "" : k.name.substr(0, dot);
    po::options_description* into = &general;
    if (!sec.empty()) {
      if (sections.empty() || sections.back().first != sec) sections.emplace_back(sec, po::options_description(sec));
      into = &sections.back().second;
    }
    if (k.repeatable) {
      into->add_options()(k.name.c_str(), po::value<std::vector<std::string>>()->composing(), k.help.c_str());
    } else {
      const std::string d = k.get(defaults).front();
      auto* v = po::value<std::string>();
      if (!d.empty()) v->default_value(d, shown(d));
      into->add_options()(k.name.c_str(), v, k.help.c_str());
    }
  }
  po::options_description all;
  all.add(general);
  for (auto& [name, desc] : sections) all.add(desc);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).run(), vm);
    if (vm.count("help")) {
      std::ostringstream os;
      os << "usage: clues run --silo PATH [--silo PATH ...] --validation PATH --anchor PATH --out DIR [options]\n"
         << all;
      help = os.str();
      return false;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      // A folder opens as a stream that reads nothing: the run would go on with defaults.
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec))
        throw InputError("--config " + path + " is a folder: give the INI file itself (NAME = VALUE lines)");
      if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
        throw InputError("--config " + path + " is not a regular file (a FIFO or device?): give the INI file itself");
      std::ifstream in(path);
      if (!in) throw InputError("cannot open config file " + path + ": check the path");
      // "silo" etc. may repeat in the file; they are added to any given on the command line.
      po::store(po::parse_config_file(in, all), vm);
      if (in.bad()) throw InputError("cannot read config file " + path);
      cfg.config_file = path;
    }
    po::notify(vm);
  } catch (const po::error_with_option_name& e) {
    // Boost puts the option's name into its message template, and a name holding
    // "%canonical_option%" makes that substitution loop forever (found by fuzz_config).
    const std::string name = e.get_option_name();
    if (name.find('%') != std::string::npos)
      throw InputError("unrecognised option '" + name.substr(0, 80) + "' (no option of clues has a '%' in its name)"
                       "\nHINT: `clues run --help` lists every option");
    if (!substitution_is_safe(e))
      throw InputError("a setting or configuration line holding '%' could not be read (no option of clues has a '%' "
                       "in its name, and a config line must be NAME = VALUE)\nHINT: `clues run --help` lists every option");
    throw InputError(std::string(e.what()) + "\nHINT: `clues run --help` lists every option");
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + "\nHINT: `clues run --help` lists every option");
  }
  for (const auto& k : config_keys()) {
    if (!vm.count(k.name) || vm[k.name].defaulted()) continue;
    if (k.repeatable)
      for (const auto& v : vm[k.name].as<std::vector<std::string>>()) k.set(cfg, v);
    else
      k.set(cfg, vm[k.name].as<std::string>());
  }
  if (cfg.pretrain.cache.empty()) cfg.pretrain.cache = default_cache();
  return true;
}

}  // namespace clues
