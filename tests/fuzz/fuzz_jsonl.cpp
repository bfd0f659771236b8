// libFuzzer: the JSONL reader (instruction lines and pre-tokenized lines).
#include "fuzz_common.h"
#include "io/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = clues_fuzz::as_file(data, size, ".jsonl");
  clues_fuzz::expect_only_input_errors([&] {
    const auto records = clues::read_jsonl(path);
    for (const auto& r : records)
      if (r.pretokenized() && (r.response_start < 1 || r.response_start > static_cast<int64_t>(r.input_ids.size())))
        __builtin_trap();  // a pre-tokenized sample always has a response start inside it
  });
  return 0;
}
