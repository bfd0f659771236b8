// NvtxRange (lib/dist/nvtx.h): nvtxRangePushA/Pop from the header-only NVTX 3 of the CUDA
// toolkit where CLUES_HAVE_NVTX is defined (for this file alone), nothing otherwise.
#include "lib/dist/nvtx.h"

#ifdef CLUES_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace clues {

#ifdef CLUES_HAVE_NVTX
NvtxRange::NvtxRange(const char* name) { nvtxRangePushA(name); }
NvtxRange::~NvtxRange() { nvtxRangePop(); }
bool nvtx_enabled() { return true; }
#else
NvtxRange::NvtxRange(const char*) {}
NvtxRange::~NvtxRange() = default;
bool nvtx_enabled() { return false; }
#endif

}  // namespace clues
