// libFuzzer: the labels reader.
#include "fuzz_common.h"
#include "io/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = clues_fuzz::as_file(data, size, ".txt");
  clues_fuzz::expect_only_input_errors([&] {
    for (auto v : clues::read_labels(path))
      if (v > 1) __builtin_trap();  // labels are 0 or 1
  });
  return 0;
}
