// libFuzzer: a model folder's config.json (lib/model/hf_config.h). Whatever is accepted must
// describe a model clues can build: positive sizes, heads a multiple of key/value heads,
// an even head dimension, special tokens inside the vocabulary.
#include <sys/stat.h>

#include "fuzz_common.h"
#include "lib/model/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = clues_fuzz::as_file(data, size, ".json");
  const std::string dir = path.substr(0, path.rfind('/')) + "/model";
  ::mkdir(dir.c_str(), 0755);
  std::rename(path.c_str(), (dir + "/config.json").c_str());
  clues_fuzz::expect_only_input_errors([&] {
    clues::ModelConfig c;
    c.dir = dir;
    clues::read_hf_config(c);
    if (c.d_model <= 0 || c.layers <= 0 || c.hidden <= 0 || c.vocab <= 0 || c.heads <= 0 || c.n_kv_heads() <= 0 || c.heads % c.n_kv_heads() != 0 || c.n_head_dim() % 2 != 0 ||
        c.bos_id >= c.vocab || c.eos_id >= c.vocab)
      __builtin_trap();
  });
  return 0;
}
