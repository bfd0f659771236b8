// libFuzzer: a safetensors file's header and data ranges. Whatever opens must hand out
// views that lie inside the file (every byte is read, so ASan sees any that do not).
#include "fuzz_common.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = clues_fuzz::as_file(data, size, ".safetensors");
  clues_fuzz::expect_only_input_errors([&] {
    clues::SafetensorsFile f(path);
    unsigned sum = 0;
    for (const auto& n : f.names()) {
      const auto v = f.get(n);
      for (size_t i = 0; i < v.bytes; ++i) sum += static_cast<const unsigned char*>(v.data)[i];
    }
    (void)sum;
  });
  return 0;
}
