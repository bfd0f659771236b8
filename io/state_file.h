// A hosted silo's training state, parked in checkpoints/state_<phase>_<silo>.bin between
// its turns so a rank holds one silo's state at a time. Layout (native byte order):
//   8 bytes magic "CLUESSTA", uint32 version (1), uint32 0, int64 parameters P,
//   int64 optimizer step, then 3·P float32: weights, Adam m, Adam v.
// Written under a temporary name and renamed; a file that is short, long, foreign or of
// another model is refused with its path and what to do.
#pragma once

#include <cstdint>
#include <string>

namespace clues {

// theta, m, v each point at P floats (host memory).
void write_state_file(const std::string& path, int64_t step, int64_t params, const float* theta, const float* m,
                      const float* v);
// Reads the file into out (3·P floats: theta, m, v) and returns the optimizer step;
// throws IoError when it is missing or is not the state of a P-parameter model.
int64_t read_state_file(const std::string& path, int64_t params, float* out);

}  // namespace clues
