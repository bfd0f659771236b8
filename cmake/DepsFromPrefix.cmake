# Open MPI and parallel HDF5 from Debian packages unpacked into CLUES_DEPS_PREFIX (dpkg -x),
# for machines that have neither (the device check, scripts/gpu_check.sh). Defines what
# find_package(MPI) and find_package(HDF5) would: MPI::MPI_CXX, HDF5_C_LIBRARIES,
# HDF5_INCLUDE_DIRS, HDF5_IS_PARALLEL. Boost, nlohmann-json and GoogleTest
# come from the same prefix through their own CMake package files.
set(_deps_lib "${CLUES_DEPS_PREFIX}/usr/lib/x86_64-linux-gnu")
foreach(_need "${_deps_lib}/openmpi/lib/libmpi.so" "${_deps_lib}/openmpi/include/mpi.h" "${_deps_lib}/hdf5/openmpi/libhdf5.so"
        "${_deps_lib}/hdf5/openmpi/include/hdf5.h")
  if(NOT EXISTS "${_need}")
    message(FATAL_ERROR "CLUES_DEPS_PREFIX=${CLUES_DEPS_PREFIX} lacks ${_need}: unpack the packages of "
                        "scripts/device_debs.sh there (scripts/gpu_check.sh does)")
  endif()
endforeach()
add_library(MPI::MPI_CXX INTERFACE IMPORTED)
set_target_properties(MPI::MPI_CXX PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_deps_lib}/openmpi/include"
                                              INTERFACE_LINK_LIBRARIES "${_deps_lib}/openmpi/lib/libmpi.so"
                                              INTERFACE_COMPILE_DEFINITIONS OMPI_SKIP_MPICXX)  # C API only
set(MPI_FOUND TRUE)
set(MPIEXEC_EXECUTABLE "${CLUES_DEPS_PREFIX}/usr/bin/mpiexec")
set(MPIEXEC_NUMPROC_FLAG "-n")
set(HDF5_FOUND TRUE)
set(HDF5_IS_PARALLEL TRUE)
set(HDF5_C_LIBRARIES "${_deps_lib}/hdf5/openmpi/libhdf5.so")
set(HDF5_INCLUDE_DIRS "${_deps_lib}/hdf5/openmpi/include")
set(HDF5_DEFINITIONS "")
list(PREPEND CMAKE_PREFIX_PATH "${CLUES_DEPS_PREFIX}/usr")
message(STATUS "clues: Open MPI and parallel HDF5 from ${CLUES_DEPS_PREFIX}")
