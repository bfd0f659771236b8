// safetensors reading (memory-mapped) and writing (io/safetensors.h).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/files.h"

namespace clues {

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  auto it = sizes.find(dtype);
  if (it == sizes.end())
    throw InputError("safetensors dtype \"" + dtype + "\" is not one clues reads (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
  return it->second;
}

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw InputError(path + ": not a valid safetensors file: " + what);
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    bad(path, "shorter than its 8-byte header length (" + std::to_string(size_) + " bytes)");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw IoError(path + ": mmap failed (" + std::strerror(errno) + ")");
  }
  try {
    const auto* base = static_cast<const unsigned char*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
    if (n > size_ - 8) bad(path, "header length " + std::to_string(n) + " runs past the end of the file");
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(base + 8, base + 8 + n);
    } catch (const nlohmann::json::exception& e) {
      bad(path, std::string("header is not JSON (") + std::string(e.what()).substr(0, 200) + ")");
    }
    if (!header.is_object()) bad(path, "header is not a JSON object");
    const size_t data0 = 8 + n, data_size = size_ - data0;
    std::vector<std::pair<size_t, size_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) bad(path, "__metadata__ is not an object");
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
        continue;
      }
      const auto& e = it.value();
      if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets") ||
          !e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
        bad(path, "entry \"" + it.key() + "\" lacks dtype, shape or data_offsets");
      SafeTensorView v;
      v.dtype = e["dtype"].get<std::string>();
      size_t numel = 1;
      for (const auto& d : e["shape"]) {
        if (!d.is_number_unsigned()) bad(path, "entry \"" + it.key() + "\" has a negative or non-integer dimension");
        if (d.get<uint64_t>() > (uint64_t{1} << 40) || __builtin_mul_overflow(numel, d.get<size_t>(), &numel))
          bad(path, "entry \"" + it.key() + "\" has a shape too large for any file");
        v.shape.push_back(d.get<int64_t>());
      }
      const auto& off = e["data_offsets"];
      if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) bad(path, "entry \"" + it.key() + "\" has bad data_offsets");
      const size_t b = off[0].get<size_t>(), end = off[1].get<size_t>();
      if (b > end || end > data_size)
        bad(path, "entry \"" + it.key() + "\" lies outside the file's " + std::to_string(data_size) + " data bytes (truncated?)");
      size_t need_bytes = 0;
      if (__builtin_mul_overflow(numel, safetensors_dtype_size(v.dtype), &need_bytes) || need_bytes != end - b)
        bad(path, "entry \"" + it.key() + "\": shape and dtype need " + std::to_string(numel * safetensors_dtype_size(v.dtype)) +
                      " bytes, its range holds " + std::to_string(end - b));
      v.data = base + data0 + b;
      v.bytes = end - b;
      if (v.bytes > 0) ranges.emplace_back(b, end);
      index_[it.key()] = v;
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].first < ranges[i - 1].second) bad(path, "two tensors overlap in the data");
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

void SafetensorsFile::release(const std::string& name) const {
  const auto v = get(name);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(v.data) / page * page;
  const auto end = reinterpret_cast<uintptr_t>(v.data) + v.bytes;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

SafeTensorView SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw InputError(path_ + ": no tensor \"" + name + "\"");
  return it->second;
}

void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t off = 0;
  for (const auto& t : tensors) {
    size_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<size_t>(d);
    if (numel * safetensors_dtype_size(t.dtype) != t.bytes)
      throw Error("write_safetensors: tensor " + t.name + " has " + std::to_string(t.bytes) + " bytes for its shape");
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes}}};
    off += t.bytes;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  write_file_atomic(path, [&](std::ostream& os) {
    unsigned char len[8];
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    os.write(reinterpret_cast<const char*>(len), 8);
    os.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : tensors) os.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes));
  });
}

}  // namespace clues
