// The safetensors format (Hugging Face model weights and PEFT adapters): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, and
// optionally "__metadata__": {string: string}}, then the tensor bytes. Files are read
// through a read-only memory map, one tensor at a time, so a large model is never held
// twice; every header is checked against the file size before any byte is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace clues {

// One tensor of a safetensors file: its dtype spelling ("F32", "F16", "BF16", "I64", ...),
// shape, and bytes (inside the file's map; valid while the file is open).
struct SafeTensorView {
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Bytes per element of a safetensors dtype; throws InputError for one clues does not read.
size_t safetensors_dtype_size(const std::string& dtype);

class SafetensorsFile {
 public:
  // Maps `path` and checks its header: length within the file, valid JSON, every entry a
  // known dtype whose shape matches its byte range, ranges inside the data and not
  // overlapping. Throws InputError naming the file and the problem.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Throws InputError when the file has no tensor `name`.
  SafeTensorView get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Drops the memory pages of tensor `name` once it has been copied (the map stays valid
  // and would read the file again): a shard's pages never pile up beside the model.
  void release(const std::string& name) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, SafeTensorView> index_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: name, dtype spelling, shape and its contiguous bytes.
struct SafeTensorOut {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};
// Writes a safetensors file atomically (temporary name, then rename). Tensors are stored
// in the given order, the header padded to a multiple of 8 bytes as the format asks.
void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace clues
