# FindNCCL: finds NCCL's header and library and defines the IMPORTED target NCCL::nccl.
# Looks in NCCL_HOME / NCCL_ROOT (CMake variable or environment), then beside LibTorch
# when it comes from the torch wheel (site-packages/nvidia/nccl: one process must load one
# NCCL, and LibTorch's CUDA library needs its own), then next to the CUDA toolkit
# (CUDAToolkit_ROOT, /usr/local/cuda: include, lib, lib64, targets/*/), then the system
# paths. Sets NCCL_FOUND, NCCL_INCLUDE_DIR, NCCL_LIBRARY, NCCL_VERSION.
set(_nccl_hints ${NCCL_HOME} $ENV{NCCL_HOME} ${NCCL_ROOT} $ENV{NCCL_ROOT})
if(TORCH_LIBRARY)
  get_filename_component(_torch_libdir "${TORCH_LIBRARY}" DIRECTORY)
  if(EXISTS "${_torch_libdir}/../../nvidia/nccl/include/nccl.h")
    get_filename_component(_wheel_nccl "${_torch_libdir}/../../nvidia/nccl" ABSOLUTE)
    list(APPEND _nccl_hints ${_wheel_nccl})
  endif()
endif()
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND _nccl_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
list(APPEND _nccl_hints /usr/local/cuda)
file(GLOB _nccl_target_dirs LIST_DIRECTORIES true /usr/local/cuda/targets/*)
list(APPEND _nccl_hints ${_nccl_target_dirs})

find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include NO_DEFAULT_PATH)
find_path(NCCL_INCLUDE_DIR nccl.h PATH_SUFFIXES include)
# The wheel ships only the versioned name.
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${_nccl_hints} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib64 lib
             NO_DEFAULT_PATH)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2)

if(NCCL_INCLUDE_DIR AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_version_lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${_part} ([0-9]+)" _m "${_nccl_version_lines}")
    set(_nccl_${_part} ${CMAKE_MATCH_1})
  endforeach()
  set(NCCL_VERSION "${_nccl_MAJOR}.${_nccl_MINOR}.${_nccl_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND AND NOT TARGET NCCL::nccl)
  add_library(NCCL::nccl UNKNOWN IMPORTED)
  set_target_properties(NCCL::nccl PROPERTIES
    IMPORTED_LOCATION "${NCCL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
