// Per-silo vectors gathered on rank 0 in silo order from the ranks hosting the silos:
// scores, selections, labels and losses for the report and the comparison's figures.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "lib/dist/comm.h"

namespace clues {

// One vector per silo on rank 0 (`local(j)` is called on silo j's owner, `owner(j)`);
// other ranks get empty vectors.
template <typename T>
std::vector<std::vector<T>> collect(const Comm& comm, int64_t n_silos, const std::function<int(int64_t)>& owner,
                                    const std::function<std::vector<T>(int64_t)>& local) {
  constexpr int kTag = 11;
  std::vector<std::vector<T>> out(static_cast<size_t>(n_silos));
  for (int64_t j = 0; j < n_silos; ++j) {
    const int o = owner(j);
    auto& slot = out[static_cast<size_t>(j)];
    if (o == comm.rank()) {
      std::vector<T> v = local(j);
      if (comm.is_root()) {
        slot = std::move(v);
      } else {
        int64_t n = static_cast<int64_t>(v.size());
        comm.send(&n, sizeof n, 0, kTag);
        if (n) comm.send(v.data(), n * static_cast<int64_t>(sizeof(T)), 0, kTag);
      }
    } else if (comm.is_root()) {
      int64_t n = 0;
      comm.recv(&n, sizeof n, o, kTag);
      slot.resize(static_cast<size_t>(n));
      if (n) comm.recv(slot.data(), n * static_cast<int64_t>(sizeof(T)), o, kTag);
    }
  }
  return out;
}

}  // namespace clues
