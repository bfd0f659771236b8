# The C libraries from Debian that ship no CMake package, as imported targets:
# sentencepiece::sentencepiece (tokenizer.model), xxhash::xxhash (content hashes of a run's
# inputs) and pcre2::pcre2 (pre-tokenizer patterns of tokenizer.json). Included by the
# top-level CMakeLists.txt and by tests/fuzz.
# A C library from Debian without a CMake package: imported target NAME::NAME from HEADER
# and LIB (cache variables NAME_INCLUDE_DIR and NAME_LIBRARY).
function(clues_find_c_library name header lib)
  find_path(${name}_INCLUDE_DIR ${header} REQUIRED)
  find_library(${name}_LIBRARY ${lib} REQUIRED)
  add_library(${name}::${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${name}::${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${${name}_INCLUDE_DIR}"
                                                   INTERFACE_LINK_LIBRARIES "${${name}_LIBRARY}")
endfunction()
clues_find_c_library(sentencepiece sentencepiece_processor.h sentencepiece)  # tokenizer.model
clues_find_c_library(xxhash xxhash.h xxhash)                                 # content hashes of a run's inputs
clues_find_c_library(pcre2 pcre2.h pcre2-8)                                  # pre-tokenizer patterns of tokenizer.json
