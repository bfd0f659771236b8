// MPI-backed communicator (lib/dist/comm.h).
#include "lib/dist/comm.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "io/error.h"
#include "lib/dist/process_stats.h"

namespace clues {

Comm Comm::world() {
  Comm c;
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) {
    c.mpi_ = true;
    c.comm_ = MPI_COMM_WORLD;
    CLUES_MPI_CHECK(MPI_Comm_rank(c.comm_, &c.rank_));
    CLUES_MPI_CHECK(MPI_Comm_size(c.comm_, &c.size_));
  }
  return c;
}

int Comm::local_rank() const {
  if (!mpi_) return 0;
  MPI_Comm node;
  CLUES_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  int r = 0;
  CLUES_MPI_CHECK(MPI_Comm_rank(node, &r));
  CLUES_MPI_CHECK(MPI_Comm_free(&node));
  return r;
}

void Comm::barrier() const {
  if (!mpi_) return;
  const CommTimer timer(0, "MPI_Barrier");
  CLUES_MPI_CHECK(MPI_Barrier(comm_));
}

namespace {
// MPI counts are int: move large buffers in pieces.
constexpr int64_t kChunk = INT_MAX / 2;
}  // namespace

void Comm::broadcast(void* data, int64_t bytes, int root) const {
  if (!mpi_) return;
  const CommTimer timer(bytes, "MPI_Bcast");
  auto* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    CLUES_MPI_CHECK(MPI_Bcast(p + off, n, MPI_BYTE, root, comm_));
  }
}

void Comm::broadcast(std::string& s, int root) const {
  if (!mpi_) return;
  int64_t n = static_cast<int64_t>(s.size());
  broadcast(&n, sizeof n, root);
  s.resize(static_cast<size_t>(n));
  broadcast(s.data(), n, root);
}

namespace {
// One value reduced over comm (counted in comm_stats), or v itself without MPI.
template <typename T>
T reduce_one(bool mpi, MPI_Comm comm, T v, MPI_Datatype type, MPI_Op op) {
  T out = v;
  if (mpi) {
    const CommTimer timer(sizeof v, "MPI_Allreduce");
    CLUES_MPI_CHECK(MPI_Allreduce(&v, &out, 1, type, op, comm));
  }
  return out;
}
}  // namespace

double Comm::allreduce_sum(double v) const { return reduce_one(mpi_, comm_, v, MPI_DOUBLE, MPI_SUM); }
double Comm::allreduce_max(double v) const { return reduce_one(mpi_, comm_, v, MPI_DOUBLE, MPI_MAX); }
int64_t Comm::allreduce_sum(int64_t v) const { return reduce_one(mpi_, comm_, v, MPI_INT64_T, MPI_SUM); }
bool Comm::all_ok(bool ok) const { return reduce_one(mpi_, comm_, ok ? 1 : 0, MPI_INT, MPI_MIN) == 1; }

void Comm::send(const void* data, int64_t bytes, int dest, int tag) const {
  const CommTimer timer(bytes, "MPI_Send");
  const auto* p = static_cast<const char*>(data);
  for (int64_t off = 0; off < bytes; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    CLUES_MPI_CHECK(MPI_Send(p + off, n, MPI_BYTE, dest, tag, comm_));
  }
}

void Comm::recv(void* data, int64_t bytes, int src, int tag) const {
  const CommTimer timer(bytes, "MPI_Recv");
  auto* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    CLUES_MPI_CHECK(MPI_Recv(p + off, n, MPI_BYTE, src, tag, comm_, MPI_STATUS_IGNORE));
  }
}

void Comm::ordered_sum(int64_t n_items, const std::function<int(int64_t)>& owner, int64_t len,
                       const std::function<void(int64_t, std::vector<float>&)>& produce,
                       std::vector<float>& out) const {
  out.assign(static_cast<size_t>(len), 0.0f);
  std::vector<float> buf(static_cast<size_t>(len));
  const int64_t bytes = len * static_cast<int64_t>(sizeof(float));
  constexpr int kTag = 4711;
  // Owners other than root send their items in index order; root adds all in index order.
  for (int64_t j = 0; j < n_items; ++j) {
    const int o = owner(j);
    if (o == rank_) {
      std::fill(buf.begin(), buf.end(), 0.0f);
      produce(j, buf);
      if (rank_ != 0) send(buf.data(), bytes, 0, kTag);
    } else if (rank_ == 0) {
      recv(buf.data(), bytes, o, kTag);
    }
    if (rank_ == 0)
      for (int64_t k = 0; k < len; ++k) out[static_cast<size_t>(k)] += buf[static_cast<size_t>(k)];
  }
  broadcast(out.data(), bytes, 0);
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  CLUES_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
}

MpiSession::~MpiSession() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

namespace {
// Each distinct message once, in rank order, at most 8; their HINT lines, each once, last.
std::string combined_message(const std::vector<std::string>& messages) {
  std::vector<std::string> body, hints, seen;
  for (const auto& m : messages) {
    if (m.empty() || std::find(seen.begin(), seen.end(), m) != seen.end()) continue;
    seen.push_back(m);
    if (seen.size() > 8) continue;
    size_t start = 0;
    while (start <= m.size()) {
      size_t end = m.find('\n', start);
      if (end == std::string::npos) end = m.size();
      const std::string line = m.substr(start, end - start);
      auto& into = line.rfind("HINT:", 0) == 0 ? hints : body;
      if (!line.empty() && (&into == &body || std::find(hints.begin(), hints.end(), line) == hints.end())) into.push_back(line);
      start = end + 1;
    }
  }
  if (seen.size() > 8) body.push_back("... and " + std::to_string(seen.size() - 8) + " more errors of other ranks");
  std::string out;
  for (const auto* part : {&body, &hints})
    for (const auto& l : *part) out += (out.empty() ? "" : "\n") + l;
  return out;
}
}  // namespace

void agree_on_errors(const Comm& comm, const std::function<void()>& step) {
  int kind = 0;  // 0 none, 1 InputError, 2 NumericalError, 3 any other error
  std::string msg;
  std::exception_ptr thrown;
  try {
    step();
  } catch (const InputError& e) {
    kind = 1, msg = e.what(), thrown = std::current_exception();
  } catch (const NumericalError& e) {
    kind = 2, msg = e.what(), thrown = std::current_exception();
  } catch (const std::exception& e) {
    kind = 3, msg = e.what(), thrown = std::current_exception();
  }
  if (comm.raw() == MPI_COMM_NULL) {
    if (thrown) std::rethrow_exception(thrown);
    return;
  }
  if (comm.all_ok(kind == 0)) return;
  constexpr int kTag = 4712;
  std::vector<std::string> messages(1, msg);
  int64_t head[2] = {kind, static_cast<int64_t>(msg.size())};
  if (!comm.is_root()) {
    comm.send(head, sizeof head, 0, kTag);
    if (head[1]) comm.send(msg.data(), head[1], 0, kTag);
  }
  for (int r = 1; comm.is_root() && r < comm.size(); ++r) {
    comm.recv(head, sizeof head, r, kTag);
    std::string m(static_cast<size_t>(head[1]), '\0');
    if (head[1]) comm.recv(m.data(), head[1], r, kTag);
    kind = std::max(kind, static_cast<int>(head[0]));
    messages.push_back(std::move(m));
  }
  std::string all = comm.is_root() ? combined_message(messages) : std::string();
  comm.broadcast(&kind, sizeof kind);
  comm.broadcast(all);
  if (kind == 1) throw InputError(all, /*every_rank=*/true);
  if (kind == 2) throw NumericalError(all, /*every_rank=*/true);
  throw Error(all, /*every_rank=*/true);
}

}  // namespace clues
