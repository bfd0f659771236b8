// MPI tests of the ordered collectives (lib/dist/collectives.h): the device-link path adds
// in index order like the MPI path, and broadcasts through the link and without. Part of
// the test_pipeline_mpi executable (its main runs them on every rank).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>
#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "lib/dist/comm.h"
#include "lib/model/checkpoint.h"
#include "lib/dist/collectives.h"
#include "lib/model/model.h"
#include "lib/run/pipeline.h"
#include "lib/method/pretrain.h"
#include "lib/method/select.h"
#include "lib/method/train.h"
#include "synthetic.h"

namespace fs = std::filesystem;
using namespace clues;

// A DeviceLink over MPI on host memory. It drives the device path of clues::ordered_sum
// and clues::broadcast (packing, all-gather, adding in index order), which GPU jobs take
// with NCCL, on CPU tensors where no GPU is; it counts the collectives it carries.
class MpiHostLink : public DeviceLink {
 public:
  std::string name() const override { return "MPI host link (test)"; }
  bool host_memory() const override { return true; }
  void all_gather(const void* send, void* recv, size_t bytes) override {
    ++calls;
    MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE, MPI_COMM_WORLD);
  }
  void broadcast(void* buf, size_t bytes, int root) override {
    ++calls;
    MPI_Bcast(buf, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD);
  }
  int calls = 0;
};

TEST(Collectives, LinkPathAddsInIndexOrderLikeTheMpiPath) {
  const Comm world = Comm::world();
  Comm linked = world;
  auto link = std::make_shared<MpiHostLink>();
  linked.attach(link);
  const int64_t len = 1001, n = 6;
  // Items of very different magnitudes, so that a sum in another order differs in the bits.
  auto item = [&](int64_t j) {
    return torch::sin(torch::arange(len, torch::kFloat32) * static_cast<float>(j + 1)) *
           std::pow(10.0f, static_cast<float>((j * 7) % 5 - 2));
  };
  torch::Tensor reference = torch::zeros({len});
  for (int64_t j = 0; j < n; ++j) reference += item(j);
  const std::vector<std::function<int(int64_t)>> owners{
      [](int64_t j) { return static_cast<int>(j % 2); },
      [](int64_t) { return 1; },
      [](int64_t j) { return j == 2 || j == 3 ? 1 : 0; }};
  for (size_t o = 0; o < owners.size(); ++o) {
    for (const int64_t budget : {int64_t{1} << 26, int64_t{97}}) {
      int produced = 0, mine = 0;
      for (int64_t j = 0; j < n; ++j) mine += owners[o](j) == world.rank();
      auto produce = [&](int64_t j) {
        ++produced;
        EXPECT_EQ(owners[o](j), world.rank()) << "item asked of a rank that does not own it";
        return item(j);
      };
      const auto host = ordered_sum(world, n, owners[o], len, produce, torch::kCPU);
      link->calls = 0;
      const auto via_link = ordered_sum(linked, n, owners[o], len, produce, torch::kCPU, budget);
      EXPECT_EQ(produced, 2 * mine) << "owners " << o;
      // One all-gather per slice: the link path really ran, sliced when the budget is small.
      int64_t most = 0;
      for (int r = 0; r < world.size(); ++r) {
        int64_t c = 0;
        for (int64_t j = 0; j < n; ++j) c += owners[o](j) == r;
        most = std::max(most, c);
      }
      const int64_t width = std::max<int64_t>(1, std::min<int64_t>(len, budget / (world.size() * most)));
      EXPECT_EQ(link->calls, (len + width - 1) / width) << "owners " << o << " budget " << budget;
      EXPECT_TRUE(torch::equal(host, reference)) << "MPI path, owners " << o;
      EXPECT_TRUE(torch::equal(via_link, reference)) << "link path, owners " << o << " budget " << budget;
    }
    // One item at a time: one broadcast per item from its owner, the same sum.
    int produced = 0;
    link->calls = 0;
    const auto streamed = ordered_sum(linked, n, owners[o], len, [&](int64_t j) {
      ++produced;
      EXPECT_EQ(owners[o](j), world.rank()) << "item asked of a rank that does not own it";
      return item(j);
    }, torch::kCPU, int64_t{1} << 26, /*one_at_a_time=*/true);
    int mine = 0;
    for (int64_t j = 0; j < n; ++j) mine += owners[o](j) == world.rank();
    EXPECT_EQ(produced, mine) << "owners " << o;
    EXPECT_EQ(link->calls, n) << "owners " << o;
    EXPECT_TRUE(torch::equal(streamed, reference)) << "link path one item at a time, owners " << o;
  }
  // The same sum in reverse order is not bitwise equal: the comparison above can fail.
  torch::Tensor reversed = torch::zeros({len});
  for (int64_t j = n - 1; j >= 0; --j) reversed += item(j);
  EXPECT_FALSE(torch::equal(reversed, reference));
}

TEST(Collectives, BroadcastThroughTheLinkAndWithout) {
  const Comm world = Comm::world();
  Comm linked = world;
  auto link = std::make_shared<MpiHostLink>();
  linked.attach(link);
  for (const int root : {0, 1}) {
    for (const Comm* c : {&world, static_cast<const Comm*>(&linked)}) {
      auto t = world.rank() == root ? torch::arange(10, torch::kFloat32) * 1.5f : torch::zeros({10});
      broadcast(*c, t, root);
      EXPECT_TRUE(torch::equal(t, torch::arange(10, torch::kFloat32) * 1.5f)) << "root " << root;
    }
  }
  EXPECT_EQ(link->calls, 2);
}
