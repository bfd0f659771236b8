// Command-line and INI parsing of `clues run` into a clues::Config (Boost.Program_options).
// The same keys work on the command line (--train.rounds 3) and in --config FILE
// ([train] rounds = 3); the command line wins.
#pragma once

#include <string>
#include <vector>

#include "lib/config/config.h"

namespace clues {

// Parses the arguments after "run". Returns false (and fills `help`) when --help was asked.
// Throws InputError for unknown options or bad values.
bool parse_run_options(const std::vector<std::string>& args, Config& cfg, std::string& help);

}  // namespace clues
