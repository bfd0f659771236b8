// A small RAII layer over the HDF5 C API: files, datasets of float64/float32/uint8 and
// attributes, addressed by path ("/silos/ita/score"); parents are created on demand.
// Every call is checked (CLUES_H5_CHECK); destructors close handles and never throw.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clues {

// Owns one HDF5 id and closes it with the matching H5?close.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  ~H5Handle() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() noexcept;
  // Closes the handle now and returns the close's status (negative: it failed, e.g. the
  // file's last writes did not reach the disk); the handle is empty afterwards either way.
  herr_t close() noexcept;

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

class H5File {
 public:
  enum class Type { kF64, kU8 };

  static H5File create(const std::string& path);     // truncates
  // One file written by every rank of `comm` through MPI-IO (truncates). Every rank must
  // make the same create_dataset/set_attr calls in the same order (HDF5 metadata is
  // collective); data goes in with write_collective. MPI_COMM_NULL: a plain serial file.
  static H5File create_parallel(const std::string& path, MPI_Comm comm);
  static H5File open_read(const std::string& path);

  void write_f64(const std::string& path, const std::vector<double>& v);
  void write_u8(const std::string& path, const std::vector<uint8_t>& v);
  void write_f32(const std::string& path, const float* data, const std::vector<hsize_t>& shape);

  // A 1-D dataset of n elements, not yet written (collective on a parallel file).
  void create_dataset(const std::string& path, Type type, hsize_t n);
  // Collective write of a whole 1-D dataset by the one rank that holds it (`holder`: data
  // points at n elements); every other rank joins with an empty selection (data unused).
  // Returns HDF5's actual I/O mode of the transfer (H5D_mpio_actual_io_mode_t), so
  // callers and tests can check that it was collective; 0 on a serial file.
  int write_collective(const std::string& path, Type type, const void* data, bool holder);
  bool parallel() const { return parallel_; }

  std::vector<double> read_f64(const std::string& path) const;
  std::vector<uint8_t> read_u8(const std::string& path) const;
  std::vector<float> read_f32(const std::string& path, std::vector<hsize_t>* shape = nullptr) const;

  void set_attr(const std::string& obj, const std::string& name, double value);
  void set_attr(const std::string& obj, const std::string& name, const std::string& value);
  double attr_f64(const std::string& obj, const std::string& name) const;
  std::string attr_str(const std::string& obj, const std::string& name) const;

  bool exists(const std::string& path) const;
  // Names of the members of a group, in HDF5's (alphabetical) order.
  std::vector<std::string> list(const std::string& group) const;
  // Flushes what HDF5 still holds and closes the file; throws IoError when either fails (a
  // file whose close failed is incomplete and must not be used). Closed afterwards either way.
  void close();
  const std::string& path() const { return path_; }

 private:
  H5File(H5Handle f, std::string path) : file_(std::move(f)), path_(std::move(path)) {}
  void write_raw(const std::string& path, hid_t type, const void* data, const std::vector<hsize_t>& shape);
  std::vector<hsize_t> shape_of(const std::string& path) const;
  H5Handle file_;
  std::string path_;
  bool parallel_ = false;
};

// Writes a whole HDF5 file: `fill` writes it under a temporary name, which is renamed onto
// `path` once the file is closed. When a write or the close fails (a full disk), the
// temporary is removed, `path` is left as it was and IoError names `path`.
void write_h5_file(const std::string& path, const std::function<void(H5File&)>& fill);

}  // namespace clues
