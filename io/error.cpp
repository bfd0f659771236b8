// Builds the messages of the MPI and HDF5 check macros (io/error.h).
#include "io/error.h"

#include <mpi.h>

#include <sstream>

namespace clues {

int world_rank() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  int rank = 0;
  if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

void throw_h5_error(const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "HDF5 call failed on rank " << world_rank() << ": " << call << " (" << file << ":" << line << ")";
  throw IoError(os.str());
}

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, msg, &len);
  std::ostringstream os;
  os << "MPI call failed on rank " << world_rank() << ": " << call << " (" << file << ":" << line
     << "): " << std::string(msg, len);
  throw MpiError(os.str());
}

}  // namespace clues
