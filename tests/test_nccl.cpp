// NCCL layer tests under mpiexec with 2 ranks (ctest mpi.nccl). Device selection and the
// node-local rank run everywhere; the collectives need one GPU per rank and are skipped,
// on every rank alike, where none is visible. Failures are combined over ranks in main.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lib/dist/nccl_comm.h"

using namespace clues;

namespace {

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// Fewest GPUs any rank sees, so every rank takes the same skip decision.
int min_visible_gpus() {
  int mine = visible_gpu_count(), least = 0;
  MPI_Allreduce(&mine, &least, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return least;
}

// Why the collectives cannot run here, or "" when every rank has a GPU of its own. Every
// rank reaches the same answer, so no rank waits in a collective the others skipped.
std::string why_skip() {
  if (min_visible_gpus() == 0) return "no GPU visible: NCCL tests skipped";
  int device = 0, ok = 1, all = 0;
  try {
    device = pick_device(node_local_rank(MPI_COMM_WORLD), visible_gpu_count());
  } catch (const DeviceError&) {
    ok = 0;
  }
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (!all) return "more ranks than GPUs on a node: NCCL tests skipped";
  if (!gpus_distinct(MPI_COMM_WORLD, device)) return "ranks share a GPU (NCCL needs one per rank): NCCL tests skipped";
  return "";
}

#define SKIP_WITHOUT_GPU_PER_RANK()                        \
  do {                                                     \
    const std::string why = why_skip();                    \
    if (!why.empty()) GTEST_SKIP() << why;                 \
  } while (0)

// Device memory owned for the length of one test.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) { CLUES_CUDA_CHECK(cudaMalloc(&ptr_, bytes)); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

}  // namespace

TEST(NcclDevices, CountNeverThrows) { EXPECT_GE(visible_gpu_count(), 0); }

TEST(NcclDevices, LocalRanksAreDistinctOnANode) {
  // ctest starts every rank on this one node: local ranks are 0..size-1.
  const int local = node_local_rank(MPI_COMM_WORLD);
  std::vector<int> all(world_size());
  MPI_Allgather(&local, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (int r = 0; r < world_size(); ++r) EXPECT_EQ(all[r], r);
}

TEST(NcclDevices, PickDevice) {
  EXPECT_EQ(pick_device(0, 4), 0);
  EXPECT_EQ(pick_device(3, 4), 3);
  EXPECT_EQ(pick_device(5, 1), 0);  // one GPU bound per task by the launcher
  EXPECT_EQ(pick_device(4, 4), 0);  // shares GPU 0 with local rank 0: NcclComm refuses that (gpus_distinct)
  EXPECT_EQ(pick_device(6, 4), 2);
  EXPECT_THROW(pick_device(0, 0), DeviceError);
}

TEST(NcclComm, RefusesToStartWithoutAGpu) {
  if (min_visible_gpus() > 0) GTEST_SKIP() << "GPUs visible: the no-GPU error path is not reachable";
  // Every rank must throw (none may wait in a collective), with a message saying what to fix.
  try {
    NcclComm nccl(MPI_COMM_WORLD);
    ADD_FAILURE() << "NcclComm started without a GPU";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU visible"), std::string::npos) << e.what();
  }
}

TEST(NcclComm, AllreduceSumIsExact) {
  SKIP_WITHOUT_GPU_PER_RANK();
  NcclComm nccl(MPI_COMM_WORLD);
  ASSERT_EQ(nccl.rank(), world_rank());
  ASSERT_EQ(nccl.size(), world_size());
  // Small integers in float add exactly in any order; an odd count exercises the tail.
  const size_t n = (1u << 20) + 3;
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>((nccl.rank() + 1) * static_cast<int>(i % 7 + 1));
  DeviceBuffer buf(n * sizeof(float));
  CudaStream stream;
  CLUES_CUDA_CHECK(cudaMemcpy(buf.get(), host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  nccl.allreduce_sum(static_cast<float*>(buf.get()), n, stream.get());
  nccl.synchronize(stream.get());
  CLUES_CUDA_CHECK(cudaMemcpy(host.data(), buf.get(), n * sizeof(float), cudaMemcpyDeviceToHost));
  const int ranks_sum = nccl.size() * (nccl.size() + 1) / 2;
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) wrong += host[i] != static_cast<float>(ranks_sum * static_cast<int>(i % 7 + 1));
  EXPECT_EQ(wrong, 0u) << "elements differing from the exact sum";
}

TEST(NcclComm, BroadcastDeliversRootsBytes) {
  SKIP_WITHOUT_GPU_PER_RANK();
  NcclComm nccl(MPI_COMM_WORLD);
  const int root = nccl.size() - 1;  // not rank 0, so a root mix-up shows
  const size_t bytes = 1000003;
  auto pattern = [](size_t i) { return static_cast<uint8_t>((i * 31 + 7) & 0xff); };
  std::vector<uint8_t> host(bytes, 0);
  if (nccl.rank() == root)
    for (size_t i = 0; i < bytes; ++i) host[i] = pattern(i);
  DeviceBuffer buf(bytes);
  CudaStream stream;
  CLUES_CUDA_CHECK(cudaMemcpy(buf.get(), host.data(), bytes, cudaMemcpyHostToDevice));
  nccl.broadcast(buf.get(), bytes, root, stream.get());
  nccl.synchronize(stream.get());
  CLUES_CUDA_CHECK(cudaMemcpy(host.data(), buf.get(), bytes, cudaMemcpyDeviceToHost));
  size_t wrong = 0;
  for (size_t i = 0; i < bytes; ++i) wrong += host[i] != pattern(i);
  EXPECT_EQ(wrong, 0u) << "bytes differing from root's";
  EXPECT_THROW(nccl.broadcast(buf.get(), bytes, nccl.size(), stream.get()), DeviceError);
}

TEST(NcclLink, AllGatherPutsEveryRanksBytesInRankOrder) {
  SKIP_WITHOUT_GPU_PER_RANK();
  NcclLink link(MPI_COMM_WORLD);
  EXPECT_NE(link.name().find("NCCL"), std::string::npos);
  const size_t bytes = 4099;  // per rank; odd, so no alignment is assumed
  auto pattern = [](int rank, size_t i) { return static_cast<uint8_t>((i * 13 + static_cast<size_t>(rank) * 101) & 0xff); };
  const int me = world_rank(), n = world_size();
  std::vector<uint8_t> mine(bytes), all(bytes * static_cast<size_t>(n), 0);
  for (size_t i = 0; i < bytes; ++i) mine[i] = pattern(me, i);
  DeviceBuffer send(bytes), recv(all.size());
  CLUES_CUDA_CHECK(cudaMemcpy(send.get(), mine.data(), bytes, cudaMemcpyHostToDevice));
  link.all_gather(send.get(), recv.get(), bytes);  // returns when done
  CLUES_CUDA_CHECK(cudaMemcpy(all.data(), recv.get(), all.size(), cudaMemcpyDeviceToHost));
  size_t wrong = 0;
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < bytes; ++i) wrong += all[static_cast<size_t>(r) * bytes + i] != pattern(r, i);
  EXPECT_EQ(wrong, 0u) << "bytes not where rank order puts them";
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  if (world_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  // A failure on any rank fails the whole test.
  int ok = rc == 0 ? 1 : 0, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  MPI_Finalize();
  return all ? 0 : 1;
}
