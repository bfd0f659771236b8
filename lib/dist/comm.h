// The communicator value class: rank, size and the few collectives clues needs, on MPI
// when it is initialised and as a lone rank 0 of 1 otherwise (unit tests, serial runs).
// Reductions that must not depend on the job's layout use ordered_sum (fixed order).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace clues {

// Collectives on device memory between the ranks of a Comm, one GPU per rank: NCCL on GPU
// jobs (NcclLink, lib/dist/nccl_comm.h). Raw pointers only, so this header needs no CUDA. Every
// call is collective and returns when its buffers are complete and may be reused.
class DeviceLink {
 public:
  virtual ~DeviceLink() = default;
  virtual std::string name() const = 0;
  // True for a link that moves host memory (the tests' MPI link), false for device memory.
  virtual bool host_memory() const { return false; }
  // recv (size() * bytes bytes) receives every rank's `bytes` bytes of send, in rank order.
  virtual void all_gather(const void* send, void* recv, size_t bytes) = 0;
  // Every rank's buf receives `bytes` bytes of root's buf.
  virtual void broadcast(void* buf, size_t bytes, int root) = 0;
};

class Comm {
 public:
  // MPI_COMM_WORLD if MPI is initialised, else a serial communicator of size 1.
  static Comm world();
  static Comm serial() { return Comm(); }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // Rank among the ranks on this node (MPI_COMM_TYPE_SHARED); 0 for a serial communicator.
  int local_rank() const;
  // The MPI communicator, or MPI_COMM_NULL for a serial communicator.
  MPI_Comm raw() const { return mpi_ ? comm_ : MPI_COMM_NULL; }

  void barrier() const;
  void broadcast(void* data, int64_t bytes, int root = 0) const;
  void broadcast(std::string& s, int root = 0) const;
  double allreduce_sum(double v) const;
  double allreduce_max(double v) const;
  int64_t allreduce_sum(int64_t v) const;
  // Logical AND of `ok` over all ranks; every rank learns whether any rank failed.
  bool all_ok(bool ok) const;

  // Sums float vectors contributed per item (item j is computed by rank owner(j)) into
  // `out` on every rank, adding items in index order 0..n-1, so the result is bitwise the
  // same however items are spread over ranks. produce(j, buf) fills item j on its owner.
  void ordered_sum(int64_t n_items, const std::function<int(int64_t)>& owner, int64_t len,
                   const std::function<void(int64_t, std::vector<float>&)>& produce, std::vector<float>& out) const;

  // The device link that device tensors use (lib/dist/collectives.h), shared by copies of this
  // Comm; null on CPU jobs, where device tensors do not occur.
  void attach(std::shared_ptr<DeviceLink> link) { link_ = std::move(link); }
  DeviceLink* device_link() const { return link_.get(); }


  // Point to point, used by ordered collection at root.
  void send(const void* data, int64_t bytes, int dest, int tag) const;
  void recv(void* data, int64_t bytes, int src, int tag) const;

 private:
  Comm() = default;
  int rank_ = 0;
  int size_ = 1;
  bool mpi_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::shared_ptr<DeviceLink> link_;
};

// The one rule for which GPU a rank uses: with `visible` GPUs on its node (> 0), node-local
// rank r takes GPU r mod visible, which is the only one when the launcher bound one GPU per
// task. Ranks that end up sharing a GPU still run; NCCL is then not used (gpus_distinct).
inline int gpu_for_local_rank(int local_rank, int visible) { return visible > 0 ? local_rank % visible : -1; }

// Runs `step` on every rank and agrees on its outcome (collective): when `step` throws on
// any rank, every rank throws one error of the gravest kind raised (Error, then
// NumericalError, then InputError), marked every_rank, holding each distinct message once and
// their HINT lines last. main prints it once and ends every rank with its status, without
// MPI_Abort. `step` must make no collective call. A serial Comm rethrows what `step` threw.
void agree_on_errors(const Comm& comm, const std::function<void()>& step);

// Initialises MPI for the life of the object (thread level FUNNELED) and finalises it.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

}  // namespace clues
