// Fault injection for the tests, kept apart from the code that writes files: named points
// in the run where a test may kill the process or make a fault, chosen by an environment
// variable, and no-ops otherwise.
#pragma once

namespace clues {

// Fault injection for the kill-and-resume tests: with CLUES_FAILPOINT=NAME:N[:RANK] in the
// environment, the N-th call of failpoint(NAME, rank) on that rank (any rank if left out)
// kills the process with SIGKILL. A no-op otherwise.
void failpoint(const char* name, int rank);
// Fault injection without a kill: true at the N-th call of injected(NAME, rank) under the
// same CLUES_FAILPOINT=NAME:N[:RANK] (the caller then makes the fault, e.g. a NaN).
bool injected(const char* name, int rank);

}  // namespace clues
