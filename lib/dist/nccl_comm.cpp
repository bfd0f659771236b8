// NCCL communicator set-up over MPI, device choice per rank, and the CUDA/NCCL checks.
#include "lib/dist/nccl_comm.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace clues {

namespace {

std::string where(const char* call, const char* file, int line) {
  std::ostringstream os;
  os << " on rank " << world_rank() << ": " << call << " (" << file << ":" << line << ")";
  return os.str();
}

// True on every rank when `ok` holds on every rank of `comm`.
bool all_ok(MPI_Comm comm, bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  CLUES_MPI_CHECK(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, comm));
  return all != 0;
}

}  // namespace

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  throw DeviceError("CUDA call failed" + where(call, file, line) + ": " + cudaGetErrorName(code) + ": " +
                    cudaGetErrorString(code));
}

void throw_nccl_error(ncclResult_t code, ncclComm_t comm, const char* call, const char* file, int line) {
  std::string msg = "NCCL call failed" + where(call, file, line) + ": " + ncclGetErrorString(code);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') msg += std::string(" (") + last + ")";
  msg += "; set NCCL_DEBUG=INFO for details";
  throw DeviceError(msg);
}

int visible_gpu_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

int node_local_rank(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  CLUES_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int local = 0;
  const int rc = MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  CLUES_MPI_CHECK(rc);
  return local;
}

int pick_device(int local_rank, int visible_gpus) {
  if (visible_gpus <= 0)
    throw DeviceError("no GPU visible on rank " + std::to_string(world_rank()) +
                      ": NCCL needs one GPU per rank (check CUDA_VISIBLE_DEVICES and the job's GPU request)");
  return gpu_for_local_rank(local_rank, visible_gpus);
}

bool gpus_distinct(MPI_Comm comm, int device) {
  char bus[64] = {0};
  CLUES_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus) - 1, device));
  MPI_Comm node = MPI_COMM_NULL;
  CLUES_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int n = 1;
  MPI_Comm_size(node, &n);
  std::vector<char> all(static_cast<size_t>(n) * sizeof(bus));
  const int rc = MPI_Allgather(bus, sizeof(bus), MPI_CHAR, all.data(), sizeof(bus), MPI_CHAR, node);
  MPI_Comm_free(&node);
  CLUES_MPI_CHECK(rc);
  std::set<std::string> seen;
  bool distinct = true;
  for (int r = 0; r < n; ++r) distinct = seen.insert(std::string(all.data() + r * sizeof(bus))).second && distinct;
  return all_ok(comm, distinct);
}

CudaStream::CudaStream() { CLUES_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }

CudaStream::~CudaStream() {
  if (stream_ != nullptr) {
    const cudaError_t rc = cudaStreamDestroy(stream_);
    if (rc != cudaSuccess) std::fprintf(stderr, "clues: cudaStreamDestroy failed: %s\n", cudaGetErrorString(rc));
  }
}

NcclComm::NcclComm(MPI_Comm comm) : uncaught_(std::uncaught_exceptions()) {
  CLUES_MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  CLUES_MPI_CHECK(MPI_Comm_size(comm, &size_));
  local_rank_ = node_local_rank(comm);

  // Device choice may fail on some ranks only: agree before the next collective.
  std::string failure;
  try {
    device_ = pick_device(local_rank_, visible_gpu_count());
    CLUES_CUDA_CHECK(cudaSetDevice(device_));
  } catch (const DeviceError& e) {
    failure = e.what();
  }
  if (!all_ok(comm, failure.empty()))
    throw DeviceError(failure.empty() ? "another rank could not set up its GPU (see its message)" : failure);
  if (!gpus_distinct(comm, device_))
    throw DeviceError("two ranks on one node would share a GPU (rank " + std::to_string(rank_) + ", local rank " +
                      std::to_string(local_rank_) + ", device " + std::to_string(device_) +
                      "): NCCL needs one GPU per rank; start one rank per GPU");

  // Rank 0 makes the id; a failure there is broadcast with it so no rank waits forever.
  struct {
    int ok;
    ncclUniqueId id;
  } start{};
  std::string id_failure;
  if (rank_ == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&start.id);
    start.ok = rc == ncclSuccess ? 1 : 0;
    if (rc != ncclSuccess) id_failure = ncclGetErrorString(rc);
  }
  CLUES_MPI_CHECK(MPI_Bcast(&start, sizeof(start), MPI_BYTE, 0, comm));
  if (!start.ok)
    throw DeviceError("ncclGetUniqueId failed on rank 0" + (id_failure.empty() ? "" : ": " + id_failure) +
                      "; set NCCL_DEBUG=INFO for details");
  CLUES_NCCL_CHECK(nullptr, ncclCommInitRank(&comm_, size_, start.id, rank_));
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr) return;
  const bool unwinding = std::uncaught_exceptions() > uncaught_;
  const ncclResult_t rc = unwinding ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
  if (rc != ncclSuccess)
    std::fprintf(stderr, "clues: rank %d: %s failed: %s\n", rank_, unwinding ? "ncclCommAbort" : "ncclCommDestroy",
                 ncclGetErrorString(rc));
}

void NcclComm::allreduce_sum(float* device_buf, size_t count, cudaStream_t stream) const {
  CLUES_NCCL_CHECK(comm_, ncclAllReduce(device_buf, device_buf, count, ncclFloat32, ncclSum, comm_, stream));
}

void NcclComm::broadcast(void* device_buf, size_t bytes, int root, cudaStream_t stream) const {
  if (root < 0 || root >= size_)
    throw DeviceError("NcclComm::broadcast: root " + std::to_string(root) + " is not a rank of a communicator of " +
                      std::to_string(size_));
  CLUES_NCCL_CHECK(comm_, ncclBroadcast(device_buf, device_buf, bytes, ncclUint8, root, comm_, stream));
}

void NcclComm::all_gather(const void* send_buf, void* recv_buf, size_t bytes, cudaStream_t stream) const {
  CLUES_NCCL_CHECK(comm_, ncclAllGather(send_buf, recv_buf, bytes, ncclUint8, comm_, stream));
}

void NcclComm::synchronize(cudaStream_t stream) {
  // Poll rather than block in cudaStreamSynchronize, so a peer's failure (reported as an
  // asynchronous NCCL error) ends the wait instead of hanging the job.
  for (;;) {
    const cudaError_t q = cudaStreamQuery(stream);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) throw_cuda_error(q, "cudaStreamQuery(stream)", __FILE__, __LINE__);
    ncclResult_t async = ncclSuccess;
    CLUES_NCCL_CHECK(comm_, ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess) {
      std::string msg = "NCCL asynchronous error on rank " + std::to_string(rank_) + ": " + ncclGetErrorString(async);
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && last[0] != '\0') msg += std::string(" (") + last + ")";
      ncclCommAbort(comm_);
      comm_ = nullptr;
      throw DeviceError(msg + "; the communicator was aborted");
    }
    std::this_thread::yield();
  }
}

std::string NcclLink::name() const {
  int version = 0;
  ncclGetVersion(&version);
  return "NCCL " + std::to_string(version) + " on device " + std::to_string(nccl_.device()) + ", " +
         std::to_string(nccl_.size()) + " ranks";
}

void NcclLink::all_gather(const void* send, void* recv, size_t bytes) {
  CLUES_CUDA_CHECK(cudaSetDevice(nccl_.device()));
  CLUES_CUDA_CHECK(cudaDeviceSynchronize());
  nccl_.all_gather(send, recv, bytes, stream_.get());
  nccl_.synchronize(stream_.get());
}

void NcclLink::broadcast(void* buf, size_t bytes, int root) {
  CLUES_CUDA_CHECK(cudaSetDevice(nccl_.device()));
  CLUES_CUDA_CHECK(cudaDeviceSynchronize());
  nccl_.broadcast(buf, bytes, root, stream_.get());
  nccl_.synchronize(stream_.get());
}

}  // namespace clues
