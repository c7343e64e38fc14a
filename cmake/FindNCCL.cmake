# Finds NCCL: NCCL_FOUND, NCCL_VERSION (read from nccl.h), NCCL_LIBRARY_VERSION (read from the library,
# empty when it does not say), and the imported target NCCL::NCCL.
# The header is looked for under NCCL_ROOT, CUDAToolkit_ROOT and /usr/local/cuda, then the system paths.
# The library is looked for first in the header's own installation (its prefix's lib64, lib), and only
# then elsewhere: otherwise pip's wheel header (PyTorch's) could be paired with a system library of
# another version, and the first sign would be an undefined symbol at load or a wrong struct layout.
find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_ROOT} $ENV{CUDA_HOME} /usr/local/cuda
  PATH_SUFFIXES include)

# NAMES: pip's NCCL wheels ship libnccl.so.2 with no libnccl.so beside it. NAMES_PER_DIR: every name is
# tried in one directory before the next directory, so that a directory's libnccl.so.2 is not passed
# over for a libnccl.so in a later one.
if(NCCL_INCLUDE_DIR AND NOT NCCL_LIBRARY)
  get_filename_component(_nccl_prefix "${NCCL_INCLUDE_DIR}" DIRECTORY)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
    PATHS ${_nccl_prefix} PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu lib/aarch64-linux-gnu NO_DEFAULT_PATH)
  unset(_nccl_prefix)
endif()
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_ROOT} $ENV{CUDA_HOME} /usr/local/cuda
  PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu lib/aarch64-linux-gnu)

set(NCCL_VERSION "")
if(NCCL_INCLUDE_DIR AND EXISTS ${NCCL_INCLUDE_DIR}/nccl.h)
  file(STRINGS ${NCCL_INCLUDE_DIR}/nccl.h _nccl_version_lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${_part}[ \t]+([0-9]+)" _match "${_nccl_version_lines}")
    set(NCCL_VERSION_${_part} ${CMAKE_MATCH_1})
  endforeach()
  set(NCCL_VERSION "${NCCL_VERSION_MAJOR}.${NCCL_VERSION_MINOR}.${NCCL_VERSION_PATCH}")
endif()

# The library's own version: NCCL builds "NCCL version X.Y.Z+cudaA.B" into its read-only data, which
# it prints at init. Read from the file, not by loading it, so that configuring needs no GPU, no driver
# and no try-run. It lies in the first few MiB of a 200 MiB library; the whole file is read (about 6 s)
# only when it is not there. Cached per library path.
if(NCCL_LIBRARY AND EXISTS "${NCCL_LIBRARY}" AND NOT _NCCL_LIBRARY_VERSION_OF STREQUAL NCCL_LIBRARY)
  set(_nccl_library_version "")
  set(_nccl_banner_regex "NCCL version ([0-9]+\\.[0-9]+\\.[0-9]+)")
  file(STRINGS "${NCCL_LIBRARY}" _nccl_banner REGEX "${_nccl_banner_regex}" LIMIT_INPUT 67108864)
  if(NOT _nccl_banner MATCHES "${_nccl_banner_regex}")
    file(STRINGS "${NCCL_LIBRARY}" _nccl_banner REGEX "${_nccl_banner_regex}")
  endif()
  if(_nccl_banner MATCHES "${_nccl_banner_regex}")
    set(_nccl_library_version ${CMAKE_MATCH_1})
  endif()
  set(NCCL_LIBRARY_VERSION "${_nccl_library_version}" CACHE INTERNAL "The version NCCL_LIBRARY says it is")
  set(_NCCL_LIBRARY_VERSION_OF "${NCCL_LIBRARY}" CACHE INTERNAL "The library NCCL_LIBRARY_VERSION was read from")
  unset(_nccl_banner)
  unset(_nccl_banner_regex)
  unset(_nccl_library_version)
endif()

# A library older than the header lacks entry points the header declares; another major version has
# another ABI. A newer library of the same major keeps the header's ABI (NCCL's compatibility rule), so
# it is accepted. Either refusal leaves NCCL not found, with one line saying which two files disagree.
set(_nccl_mismatch "")
if(NCCL_VERSION AND NCCL_LIBRARY_VERSION)
  string(REGEX MATCH "^[0-9]+" _header_major "${NCCL_VERSION}")
  string(REGEX MATCH "^[0-9]+" _library_major "${NCCL_LIBRARY_VERSION}")
  if(NCCL_LIBRARY_VERSION VERSION_LESS NCCL_VERSION OR NOT _header_major STREQUAL _library_major)
    string(CONCAT _nccl_mismatch "cctune: NCCL not used: ${NCCL_INCLUDE_DIR}/nccl.h is ${NCCL_VERSION} but ${NCCL_LIBRARY} is "
                       "${NCCL_LIBRARY_VERSION}; set NCCL_ROOT to one installation that has both (or NCCL_LIBRARY to "
                       "a library of the header's version)")
  endif()
endif()

include(FindPackageHandleStandardArgs)
if(_nccl_mismatch)
  message(STATUS "${_nccl_mismatch}")  # one line (a WARNING would be wrapped), as gpu-check.sh shows it
  set(NCCL_FOUND FALSE)
else()
  find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)
endif()
if(NCCL_FOUND AND NCCL_LIBRARY_VERSION AND NOT NCCL_LIBRARY_VERSION VERSION_EQUAL NCCL_VERSION)
  message(STATUS "cctune: NCCL library ${NCCL_LIBRARY_VERSION} is newer than its header ${NCCL_VERSION}: accepted")
elseif(NCCL_FOUND AND NOT NCCL_LIBRARY_VERSION)
  message(STATUS "cctune: ${NCCL_LIBRARY} does not say its version; the GPU check prints the one it loads")
endif()
unset(_nccl_mismatch)

if(NCCL_FOUND AND NOT TARGET NCCL::NCCL)
  add_library(NCCL::NCCL UNKNOWN IMPORTED)
  set_target_properties(NCCL::NCCL PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
