// libFuzzer: an INI configuration file through `clues run --config FILE`, then validate()
// and to_ini(): whatever parses must print as INI that parses to the same INI again.
#include "apps/options.h"
#include "fuzz_common.h"
#include "lib/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = clues_fuzz::as_file(data, size, ".ini");
  clues_fuzz::expect_only_input_errors([&] {
    clues::Config cfg;
    std::string help;
    if (!clues::parse_run_options({"--config", path}, cfg, help)) return;
    cfg.validate();
    const std::string ini = cfg.to_ini();
    const auto again = clues_fuzz::as_file(reinterpret_cast<const uint8_t*>(ini.data()), ini.size(), "_again.ini");
    clues::Config cfg2;
    if (!clues::parse_run_options({"--config", again}, cfg2, help) || cfg2.to_ini() != ini) __builtin_trap();
  });
  return 0;
}
