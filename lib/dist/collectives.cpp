#include "lib/dist/collectives.h"

#include <algorithm>
#include <vector>

#include "io/error.h"
#include "lib/dist/process_stats.h"

namespace clues {

namespace {

// The link path is taken (by jobs of more than one rank) when a link is attached whose
// memory (device or host) is where the tensors live; host tensors on a GPU job
// (pretraining reads the base on the host) take the MPI path.
bool on_link(const Comm& comm, const torch::Device& device) {
  const DeviceLink* link = comm.device_link();
  return link != nullptr && link->host_memory() == device.is_cpu();
}

torch::Tensor checked_item(const torch::Tensor& t, int64_t j, int64_t len) {
  TORCH_CHECK(t.dim() == 1 && t.numel() == len, "ordered_sum: item ", j, " has ", t.numel(), " values, expected ", len);
  return t.to(torch::kFloat32);
}

}  // namespace

torch::Tensor ordered_sum(const Comm& comm, int64_t n_items, const std::function<int(int64_t)>& owner, int64_t len,
                          const std::function<torch::Tensor(int64_t)>& produce, const torch::Device& device,
                          int64_t budget, bool one_at_a_time) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  if (comm.size() == 1) {  // a lone rank adds its items where they are needed, in index order
    auto out = torch::zeros({len}, opts);
    for (int64_t j = 0; j < n_items; ++j) out.add_(checked_item(produce(j), j, len).to(device));
    return out;
  }
  if (!on_link(comm, device)) {
    std::vector<float> out;
    comm.ordered_sum(n_items, owner, len, [&](int64_t j, std::vector<float>& buf) {
      const auto t = checked_item(produce(j), j, len).cpu().contiguous();
      std::copy(t.data_ptr<float>(), t.data_ptr<float>() + len, buf.begin());
    }, out);
    return torch::from_blob(out.data(), {len}, torch::kFloat32).to(device, /*non_blocking=*/false, /*copy=*/true);
  }
  if (one_at_a_time) {
    auto out = torch::zeros({len}, opts);
    auto item = torch::empty({len}, opts);
    for (int64_t j = 0; j < n_items; ++j) {
      const int o = owner(j);
      if (o == comm.rank()) item.copy_(checked_item(produce(j), j, len));
      {
        const CommTimer timer(len * static_cast<int64_t>(sizeof(float)), "device broadcast");
        comm.device_link()->broadcast(item.data_ptr(), static_cast<size_t>(len) * sizeof(float), o);
      }
      out.add_(item);
    }
    return out;
  }
  // Every rank knows owner(): item j is row slot[j] of rank owner(j)'s block of M rows.
  const int R = comm.size();
  std::vector<int64_t> slot(static_cast<size_t>(n_items)), count(static_cast<size_t>(R), 0);
  std::vector<int> who(static_cast<size_t>(n_items));
  for (int64_t j = 0; j < n_items; ++j) {
    const int o = owner(j);
    if (o < 0 || o >= R) throw Error("ordered_sum: item " + std::to_string(j) + " has owner " + std::to_string(o));
    who[static_cast<size_t>(j)] = o;
    slot[static_cast<size_t>(j)] = count[static_cast<size_t>(o)]++;
  }
  const int64_t M = *std::max_element(count.begin(), count.end());
  auto out = torch::zeros({len}, opts);
  if (M == 0 || len == 0) return out;
  auto mine = torch::zeros({M, len}, opts);
  for (int64_t j = 0; j < n_items; ++j)
    if (who[static_cast<size_t>(j)] == comm.rank()) mine[slot[static_cast<size_t>(j)]].copy_(checked_item(produce(j), j, len));
  const int64_t width = std::max<int64_t>(1, std::min(len, budget / (R * M)));
  for (int64_t off = 0; off < len; off += width) {
    const int64_t w = std::min(width, len - off);
    const auto send = mine.narrow(1, off, w).contiguous();
    auto all = torch::empty({R, M, w}, opts);
    {
      const CommTimer timer(static_cast<int64_t>(R) * M * w * static_cast<int64_t>(sizeof(float)), "device all_gather");
      comm.device_link()->all_gather(send.data_ptr(), all.data_ptr(), static_cast<size_t>(M * w) * sizeof(float));
    }
    auto part = out.narrow(0, off, w);
    for (int64_t j = 0; j < n_items; ++j) part.add_(all[who[static_cast<size_t>(j)]][slot[static_cast<size_t>(j)]]);
  }
  return out;
}

void broadcast(const Comm& comm, torch::Tensor& t, int root) {
  TORCH_CHECK(t.is_contiguous(), "broadcast: tensor must be contiguous");
  if (comm.size() == 1) return;
  const auto bytes = static_cast<int64_t>(t.numel() * t.element_size());
  if (on_link(comm, t.device())) {
    const CommTimer timer(bytes, "device broadcast");
    comm.device_link()->broadcast(t.data_ptr(), static_cast<size_t>(bytes), root);
  } else if (t.device().is_cpu()) {
    comm.broadcast(t.data_ptr(), bytes, root);
  } else {
    auto host = t.cpu().contiguous();
    comm.broadcast(host.data_ptr(), bytes, root);
    t.copy_(host);
  }
}

}  // namespace clues
