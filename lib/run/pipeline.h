// The whole CLUES run (docs/method.md): the phases of lib/run/phases.h in order over one run
// context (lib/run/run_context.h), and the summary the console prints at the end.
#pragma once

#include <string>

#include "io/report.h"
#include "lib/dist/comm.h"
#include "lib/config/config.h"

namespace clues {

struct RunContext;

// Runs every phase on all ranks of the context's communicator; rank 0 gets the summary
// (others a partial one). LibTorch errors come out as clues::Error.
RunSummary run(RunContext& ctx);

// make_run_context, then run: the whole job from a configuration.
RunSummary run_pipeline(const Config& cfg, const Comm& comm);

// Human-readable per-silo table of a summary (the console's last lines).
std::string format_summary(const RunSummary& s);

}  // namespace clues
