// NCCL communicator for device-side collectives between MPI ranks, one GPU per rank.
// Raw device pointers, the CUDA runtime, NCCL and MPI only: no LibTorch here, so this
// layer builds wherever CUDA and NCCL are found; tensor code passes its data_ptr() in.
// Built as clues_nccl, which defines CLUES_HAVE_NCCL for whoever links it.
#pragma once

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <cstddef>
#include <string>

#include "io/error.h"
#include "lib/dist/comm.h"

namespace clues {

// A CUDA or NCCL call failed; the message names the call, file:line, rank and the
// library's own error string.
class DeviceError : public Error {
 public:
  explicit DeviceError(const std::string& what) : Error(what) {}
};

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);
// `comm` may be null; when it is not, NCCL's last error message for it is added.
[[noreturn]] void throw_nccl_error(ncclResult_t code, ncclComm_t comm, const char* call, const char* file,
                                   int line);

// Number of GPUs this process can see; 0 when cudaGetDeviceCount fails (no driver, no
// device, CUDA_VISIBLE_DEVICES empty). Never throws.
int visible_gpu_count();

// This rank's index among the ranks of `comm` on the same node (MPI_COMM_TYPE_SHARED).
int node_local_rank(MPI_Comm comm);

// The device a rank uses (gpu_for_local_rank, lib/dist/comm.h). Throws DeviceError when there
// is none.
int pick_device(int local_rank, int visible_gpus);

// Collective over `comm`: true on every rank when no two ranks on one node use the same
// GPU (compares PCI bus ids of `device`), which NCCL requires.
bool gpus_distinct(MPI_Comm comm, int device);

// Owns a CUDA stream (non-blocking with respect to the default stream).
class CudaStream {
 public:
  CudaStream();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// One NCCL communicator over the ranks of an MPI communicator, created once with the run
// context (lib/run/run_context.cpp) and passed down. Construction is collective: rank 0 makes
// the unique id, MPI_Bcasts it, every rank sets its device (pick_device of its local
// rank) and calls ncclCommInitRank. Collectives are enqueued on `stream` and return at
// once; synchronize() waits for them and reports errors from any rank's NCCL.
class NcclComm {
 public:
  explicit NcclComm(MPI_Comm comm);
  // Destroys the communicator; aborts it instead while an exception is unwinding, so a
  // failed rank does not wait for peers that will never come. Never throws.
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int device() const { return device_; }
  ncclComm_t get() const { return comm_; }

  // In place: device_buf[i] = sum over ranks of device_buf[i].
  void allreduce_sum(float* device_buf, size_t count, cudaStream_t stream) const;
  // recv_buf (size() * bytes) receives every rank's `bytes` bytes of send_buf, in rank order.
  void all_gather(const void* send_buf, void* recv_buf, size_t bytes, cudaStream_t stream) const;
  // In place: every rank's device_buf receives `bytes` bytes of root's.
  void broadcast(void* device_buf, size_t bytes, int root, cudaStream_t stream) const;
  // Waits until `stream` is done; throws DeviceError (after aborting the communicator)
  // when NCCL reports an asynchronous error meanwhile, e.g. a peer died.
  void synchronize(cudaStream_t stream);

 private:
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int device_ = 0;
  int uncaught_ = 0;
};

// The DeviceLink of a GPU job (Comm::attach): one NcclComm and a stream of its own. Each
// call first waits for all work queued on the device, LibTorch's streams included (so no
// CUDA LibTorch header is needed here), then for its own collective.
class NcclLink : public DeviceLink {
 public:
  explicit NcclLink(MPI_Comm comm) : nccl_(comm) {}
  std::string name() const override;
  int device() const { return nccl_.device(); }
  void all_gather(const void* send, void* recv, size_t bytes) override;
  void broadcast(void* buf, size_t bytes, int root) override;

 private:
  NcclComm nccl_;       // sets the device first,
  CudaStream stream_;   // so the stream belongs to it
};

}  // namespace clues

// Every CUDA runtime call goes through this.
#define CLUES_CUDA_CHECK(call)                                                           \
  do {                                                                                   \
    cudaError_t clues_cuda_rc_ = (call);                                                 \
    if (clues_cuda_rc_ != cudaSuccess) ::clues::throw_cuda_error(clues_cuda_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// Every NCCL call goes through this; `comm` (may be nullptr) adds NCCL's last message.
#define CLUES_NCCL_CHECK(comm, call)                                                     \
  do {                                                                                   \
    ncclResult_t clues_nccl_rc_ = (call);                                                \
    if (clues_nccl_rc_ != ncclSuccess)                                                  \
      ::clues::throw_nccl_error(clues_nccl_rc_, (comm), #call, __FILE__, __LINE__);       \
  } while (0)
