// HDF5 RAII layer (io/h5.h).
#include "io/h5.h"

#include <unistd.h>

#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>

#include "io/error.h"
#include "io/files.h"

namespace clues {

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
  }
  return *this;
}

void H5Handle::reset() noexcept {
  // While an exception unwinds, it is the report: a close failing after it says nothing new.
  if (close() < 0 && std::uncaught_exceptions() == 0) std::cerr << "warning: closing an HDF5 handle failed\n";
}

herr_t H5Handle::close() noexcept {
  herr_t rc = 0;
  if (id_ >= 0 && closer_) rc = closer_(id_);
  id_ = -1;
  return rc;
}

namespace {

H5Handle lcpl_with_parents() {
  H5Handle p(CLUES_H5_CHECK(H5Pcreate(H5P_LINK_CREATE)), H5Pclose);
  CLUES_H5_CHECK(H5Pset_create_intermediate_group(p.get(), 1));
  return p;
}

// Silences HDF5's own error stack printing: we report failures ourselves. And no library
// shutdown at exit: a file whose close failed (a full disk) stays half-closed in HDF5's id
// table, and closing it again there crashes (HDF5 1.10); every file is closed by its owner.
struct QuietHdf5 {
  QuietHdf5() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};

// Closes a handle that a write went through, now: HDF5 flushes on close, and a close that
// fails (a full disk) means the write did not reach the file.
void close_written(H5Handle& h, const std::string& what, const std::string& file) {
  if (h.close() < 0)
    throw IoError("HDF5 could not close " + what + " in " + file + ": a write did not reach the disk (is it full?)");
}
const QuietHdf5 quiet_hdf5;

}  // namespace

H5File H5File::create(const std::string& path) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) throw IoError("cannot create HDF5 file " + path + ": check the folder exists and is writable");
  return H5File(H5Handle(f, H5Fclose), path);
}

H5File H5File::create_parallel(const std::string& path, MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return create(path);
  H5Handle fapl(CLUES_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)), H5Pclose);
  CLUES_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL));
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (f < 0)
    throw IoError("cannot create HDF5 file " + path + " through MPI-IO: check the folder exists, is writable and "
                  "is on a file system every rank sees");
  H5File out(H5Handle(f, H5Fclose), path);
  out.parallel_ = true;
  return out;
}

namespace {
hid_t native(H5File::Type t) { return t == H5File::Type::kF64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT8; }
}  // namespace

void H5File::create_dataset(const std::string& path, Type type, hsize_t n) {
  H5Handle space(CLUES_H5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  H5Handle lcpl = lcpl_with_parents();
  H5Handle ds(CLUES_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), native(type), space.get(), lcpl.get(),
                                        H5P_DEFAULT, H5P_DEFAULT)),
              H5Dclose);
  close_written(ds, "dataset " + path, path_);
}

int H5File::write_collective(const std::string& path, Type type, const void* data, bool holder) {
  H5Handle ds(CLUES_H5_CHECK(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT)), H5Dclose);
  if (!parallel_) {
    if (holder) CLUES_H5_CHECK(H5Dwrite(ds.get(), native(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    close_written(ds, "dataset " + path, path_);
    return 0;
  }
  H5Handle fspace(CLUES_H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  hsize_t n = 0;
  CLUES_H5_CHECK(H5Sget_simple_extent_dims(fspace.get(), &n, nullptr));
  if (n == 0) return static_cast<int>(H5D_MPIO_NO_COLLECTIVE);  // every rank sees n = 0: nothing to move
  H5Handle mspace(CLUES_H5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  if (!holder) {
    CLUES_H5_CHECK(H5Sselect_none(fspace.get()));
    CLUES_H5_CHECK(H5Sselect_none(mspace.get()));
  }
  H5Handle dxpl(CLUES_H5_CHECK(H5Pcreate(H5P_DATASET_XFER)), H5Pclose);
  CLUES_H5_CHECK(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE));
  static const char zero[1] = {0};
  CLUES_H5_CHECK(H5Dwrite(ds.get(), native(type), mspace.get(), fspace.get(), dxpl.get(),
                          holder && data ? data : zero));
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  CLUES_H5_CHECK(H5Pget_mpio_actual_io_mode(dxpl.get(), &mode));
  close_written(ds, "dataset " + path, path_);
  return static_cast<int>(mode);
}

void H5File::close() {
  if (!file_.valid()) return;
  const bool flushed = H5Fflush(file_.get(), H5F_SCOPE_LOCAL) >= 0;
  const bool closed = file_.close() >= 0;  // the handle is empty afterwards either way
  if (!flushed || !closed)
    throw IoError(std::string(flushed ? "closing" : "flushing") + " the HDF5 file " + path_ +
                  " failed: its last writes did not reach the disk (is it full?)");
}

H5File H5File::open_read(const std::string& path) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw IoError("cannot open HDF5 file " + path + " for reading (missing or not HDF5)");
  return H5File(H5Handle(f, H5Fclose), path);
}

void H5File::write_raw(const std::string& path, hid_t type, const void* data, const std::vector<hsize_t>& shape) {
  H5Handle space(CLUES_H5_CHECK(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr)), H5Sclose);
  H5Handle lcpl = lcpl_with_parents();
  H5Handle ds(CLUES_H5_CHECK(H5Dcreate2(file_.get(), path.c_str(), type, space.get(), lcpl.get(), H5P_DEFAULT,
                                        H5P_DEFAULT)),
              H5Dclose);
  CLUES_H5_CHECK(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  close_written(ds, "dataset " + path, path_);
}

void H5File::write_f64(const std::string& path, const std::vector<double>& v) {
  write_raw(path, H5T_NATIVE_DOUBLE, v.data(), {v.size()});
}
void H5File::write_u8(const std::string& path, const std::vector<uint8_t>& v) {
  write_raw(path, H5T_NATIVE_UINT8, v.data(), {v.size()});
}
void H5File::write_f32(const std::string& path, const float* data, const std::vector<hsize_t>& shape) {
  write_raw(path, H5T_NATIVE_FLOAT, data, shape);
}

std::vector<hsize_t> H5File::shape_of(const std::string& path) const {
  if (!exists(path)) throw IoError(path_ + ": dataset " + path + " is missing");
  H5Handle ds(CLUES_H5_CHECK(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT)), H5Dclose);
  H5Handle space(CLUES_H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  int rank = CLUES_H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  CLUES_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return dims;
}

namespace {
template <typename T>
std::vector<T> read_all(hid_t file, const std::string& path, hid_t type, const std::vector<hsize_t>& dims) {
  size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<T> out(n);
  H5Handle ds(CLUES_H5_CHECK(H5Dopen2(file, path.c_str(), H5P_DEFAULT)), H5Dclose);
  if (n > 0) CLUES_H5_CHECK(H5Dread(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()));
  return out;
}
}  // namespace

std::vector<double> H5File::read_f64(const std::string& path) const {
  return read_all<double>(file_.get(), path, H5T_NATIVE_DOUBLE, shape_of(path));
}
std::vector<uint8_t> H5File::read_u8(const std::string& path) const {
  return read_all<uint8_t>(file_.get(), path, H5T_NATIVE_UINT8, shape_of(path));
}
std::vector<float> H5File::read_f32(const std::string& path, std::vector<hsize_t>* shape) const {
  auto dims = shape_of(path);
  if (shape) *shape = dims;
  return read_all<float>(file_.get(), path, H5T_NATIVE_FLOAT, dims);
}

void H5File::set_attr(const std::string& obj, const std::string& name, double value) {
  H5Handle space(CLUES_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Handle a(CLUES_H5_CHECK(H5Acreate_by_name(file_.get(), obj.c_str(), name.c_str(), H5T_NATIVE_DOUBLE,
                                              space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)),
             H5Aclose);
  CLUES_H5_CHECK(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value));
  close_written(a, "attribute " + obj + "@" + name, path_);
}

void H5File::set_attr(const std::string& obj, const std::string& name, const std::string& value) {
  H5Handle type(CLUES_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  CLUES_H5_CHECK(H5Tset_size(type.get(), value.empty() ? 1 : value.size()));
  CLUES_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  H5Handle space(CLUES_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Handle a(CLUES_H5_CHECK(H5Acreate_by_name(file_.get(), obj.c_str(), name.c_str(), type.get(), space.get(),
                                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)),
             H5Aclose);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  CLUES_H5_CHECK(H5Awrite(a.get(), type.get(), buf.data()));
  close_written(a, "attribute " + obj + "@" + name, path_);
}

double H5File::attr_f64(const std::string& obj, const std::string& name) const {
  if (CLUES_H5_CHECK(H5Aexists_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT)) <= 0)
    throw IoError(path_ + ": attribute " + obj + "@" + name + " is missing");
  H5Handle a(CLUES_H5_CHECK(H5Aopen_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT)),
             H5Aclose);
  double v = 0;
  CLUES_H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v));
  return v;
}

std::string H5File::attr_str(const std::string& obj, const std::string& name) const {
  if (CLUES_H5_CHECK(H5Aexists_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT)) <= 0)
    throw IoError(path_ + ": attribute " + obj + "@" + name + " is missing");
  H5Handle a(CLUES_H5_CHECK(H5Aopen_by_name(file_.get(), obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT)),
             H5Aclose);
  H5Handle type(CLUES_H5_CHECK(H5Aget_type(a.get())), H5Tclose);
  size_t size = H5Tget_size(type.get());
  std::string buf(size, '\0');
  CLUES_H5_CHECK(H5Aread(a.get(), type.get(), buf.data()));
  while (!buf.empty() && buf.back() == '\0') buf.pop_back();
  return buf;
}

bool H5File::exists(const std::string& path) const {
  // Walk the path so that a missing parent is "no", not an error.
  size_t pos = 1;
  while (true) {
    size_t next = path.find('/', pos);
    std::string prefix = path.substr(0, next);
    if (H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

std::vector<std::string> H5File::list(const std::string& group) const {
  std::vector<std::string> names;
  if (!exists(group)) return names;
  H5Handle g(CLUES_H5_CHECK(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT)), H5Gclose);
  H5G_info_t info;
  CLUES_H5_CHECK(H5Gget_info(g.get(), &info));
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = CLUES_H5_CHECK(H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                                    H5P_DEFAULT));
    std::string name(static_cast<size_t>(len) + 1, '\0');
    CLUES_H5_CHECK(H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                                      H5P_DEFAULT));
    name.resize(static_cast<size_t>(len));
    names.push_back(name);
  }
  return names;
}

void write_h5_file(const std::string& path, const std::function<void(H5File&)>& fill) {
  const std::string tmp = temp_path_for(path);
  std::optional<H5File> f;  // outlives the try block: closed in the catch only after its space was freed
  auto drop = [&] {
    // Truncating first gives the space of this file back, so that HDF5's close, which
    // flushes, can finish and leave no half-closed file behind; then the temporary goes.
    [[maybe_unused]] const int freed = ::truncate(tmp.c_str(), 0);
    try {
      if (f) f->close();
    } catch (const Error&) {  // the error that brought us here is the one to report
    }
    f.reset();
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  try {
    f.emplace(H5File::create(tmp));
    fill(*f);
    f->close();  // checked: a file whose flush or close failed is incomplete and never takes `path`'s place
  } catch (const Error& e) {
    drop();
    throw IoError("writing " + path + " failed, and nothing of it was kept: " + e.what() +
                  "\nHINT: free space on that file system (or choose another --out), then continue with --resume");
  } catch (...) {
    drop();
    throw;
  }
  commit_file(tmp, path);
}

}  // namespace clues
