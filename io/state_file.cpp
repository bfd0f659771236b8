// Silo state files (io/state_file.h).
#include "io/state_file.h"

#include <cstring>
#include <fstream>

#include "io/error.h"
#include "io/files.h"

namespace clues {

namespace {
constexpr char kMagic[8] = {'C', 'L', 'U', 'E', 'S', 'S', 'T', 'A'};
constexpr uint32_t kVersion = 1;
struct Header {
  char magic[8];
  uint32_t version = 0, reserved = 0;
  int64_t params = 0, step = 0;
};
static_assert(sizeof(Header) == 32, "state file header is 32 bytes");
}  // namespace

void write_state_file(const std::string& path, int64_t step, int64_t params, const float* theta, const float* m,
                      const float* v) {
  Header h;
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.params = params;
  h.step = step;
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(&h), sizeof h);
    for (const float* part : {theta, m, v})
      out.write(reinterpret_cast<const char*>(part), static_cast<std::streamsize>(params * sizeof(float)));
  });
}

int64_t read_state_file(const std::string& path, int64_t params, float* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read the silo state " + path + ": was the checkpoint folder changed during the run?");
  const std::string redo = ": it is damaged or belongs to another run; start over with --overwrite";
  Header h;
  in.read(reinterpret_cast<char*>(&h), sizeof h);
  if (!in || std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw IoError("silo state " + path + " is not a clues state file" + redo);
  if (h.version != kVersion)
    throw IoError("silo state " + path + " has format version " + std::to_string(h.version) + ", this build reads " +
                  std::to_string(kVersion) + redo);
  if (h.params != params)
    throw IoError("silo state " + path + " holds the state of " + std::to_string(h.params) + " parameters, the model has " +
                  std::to_string(params) + redo);
  in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(3 * params * sizeof(float)));
  if (!in) throw IoError("silo state " + path + " is truncated" + redo);
  if (in.peek() != std::char_traits<char>::eof()) throw IoError("silo state " + path + " is longer than its header says" + redo);
  return h.step;
}

}  // namespace clues
