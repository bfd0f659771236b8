// The exception types every clues layer throws, and the checks that wrap calls into
// MPI and HDF5. `main` catches clues::Error once, prints it with the rank and aborts.
#pragma once

#include <stdexcept>
#include <string>

namespace clues {

// This process's rank in MPI_COMM_WORLD for error messages; 0 outside MPI.
int world_rank();

// Base of every error clues throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, bool every_rank = false) : std::runtime_error(what), every_rank_(every_rank) {}
  // True when every rank of the job raised this error at the same point (lib/comm.h
  // agree_on_errors): main prints it once, on rank 0, and every rank leaves without MPI_Abort.
  bool every_rank() const { return every_rank_; }

 private:
  bool every_rank_;
};

// Something in the user's input (files, options) is wrong; the message says what to fix.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what, bool every_rank = false) : Error(what, every_rank) {}
};

// A file could not be read or written (HDF5, file system).
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what) {}
};

// A loss, gradient, optimizer state or score is NaN or infinite: training diverged.
class NumericalError : public Error {
 public:
  explicit NumericalError(const std::string& what, bool every_rank = false) : Error(what, every_rank) {}
};

// An MPI call failed.
class MpiError : public Error {
 public:
  explicit MpiError(const std::string& what) : Error(what) {}
};

// Throws IoError naming the failed HDF5 call and where it was made.
[[noreturn]] void throw_h5_error(const char* call, const char* file, int line);
// Throws MpiError with MPI's own message for `code`.
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

}  // namespace clues

// Every HDF5 call that returns a status or id goes through this: negative means failure.
#define CLUES_H5_CHECK(call)                                            \
  ([&]() {                                                              \
    auto clues_h5_result_ = (call);                                     \
    if (clues_h5_result_ < 0) ::clues::throw_h5_error(#call, __FILE__, __LINE__); \
    return clues_h5_result_;                                            \
  }())

// Every MPI call goes through this.
#define CLUES_MPI_CHECK(call)                                                    \
  do {                                                                           \
    int clues_mpi_rc_ = (call);                                                  \
    if (clues_mpi_rc_ != 0) ::clues::throw_mpi_error(clues_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)
