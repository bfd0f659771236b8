// Local AdamW training and weighted averaging (lib/method/train.h).
#include "lib/method/train.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "io/error.h"
#include "io/failpoint.h"
#include "io/files.h"
#include "io/state_file.h"
#include "lib/dist/collectives.h"
#include "lib/dist/nvtx.h"
#include "lib/method/select.h"

namespace clues {

AdamState AdamState::zeros_like(const std::vector<torch::Tensor>& params) {
  AdamState s;
  for (const auto& p : params) {
    s.m.push_back(torch::zeros_like(p, torch::kFloat32));
    s.v.push_back(torch::zeros_like(p, torch::kFloat32));
  }
  return s;
}

double lr_at(const TrainConfig& tc, int64_t step, int64_t total) {
  const int64_t warm = static_cast<int64_t>(tc.warmup_frac * static_cast<double>(total));
  if (step < warm) return tc.lr * static_cast<double>(step + 1) / static_cast<double>(warm);
  const int64_t decay = std::max<int64_t>(1, total - warm);
  const double frac = std::min(1.0, static_cast<double>(step - warm) / static_cast<double>(decay));
  return tc.lr * (1.0 - frac * (1.0 - tc.min_lr_frac));
}

double round_mean_lr(const TrainConfig& tc, int64_t round) {
  const int64_t total = tc.rounds * tc.local_steps;
  double sum = 0;
  for (int64_t s = 0; s < tc.local_steps; ++s) sum += lr_at(tc, round * tc.local_steps + s, total);
  return sum / static_cast<double>(tc.local_steps);
}

int64_t silo_steps(const TrainConfig& tc, int64_t n) {
  if (tc.local_epochs <= 0) return tc.local_steps;
  const double steps = std::ceil(tc.local_epochs * static_cast<double>(n) / static_cast<double>(tc.batch_size));
  return std::max<int64_t>(1, static_cast<int64_t>(steps));
}

std::vector<int64_t> round_order(int64_t n, const TrainConfig& tc, uint64_t seed, int64_t silo, int64_t round) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(silo),
                    static_cast<uint32_t>(round), 0x7a11u};
  std::mt19937_64 rng(seq);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::vector<int64_t> order;
  const int64_t need = silo_steps(tc, n) * tc.batch_size;
  order.reserve(static_cast<size_t>(need));
  while (static_cast<int64_t>(order.size()) < need) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t i : perm) {
      if (static_cast<int64_t>(order.size()) == need) break;
      order.push_back(i);
    }
  }
  return order;
}

void adamw_step(const std::vector<torch::Tensor>& params, AdamState& st, const TrainConfig& tc, double lr) {
  torch::NoGradGuard ng;
  st.step += 1;
  const double bc1 = 1.0 - std::pow(tc.beta1, static_cast<double>(st.step));
  const double bc2 = 1.0 - std::pow(tc.beta2, static_cast<double>(st.step));
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    if (!p.grad().defined()) continue;
    auto g = p.grad().to(torch::kFloat32);
    st.m[i].mul_(tc.beta1).add_(g, 1.0 - tc.beta1);
    st.v[i].mul_(tc.beta2).addcmul_(g, g, 1.0 - tc.beta2);
    if (tc.weight_decay > 0) p.mul_(1.0 - lr * tc.weight_decay);
    auto denom = (st.v[i] / bc2).sqrt_().add_(tc.eps);
    p.sub_((st.m[i] / bc1 / denom * lr).to(p.scalar_type()));
  }
}

double train_steps(Decoder& model, const std::vector<Encoded>& data, const std::vector<int64_t>& order,
                   AdamState& st, const TrainConfig& tc, int64_t first_step, int64_t steps, int64_t total,
                   const std::function<void(int64_t)>& after_step) {
  if (data.empty()) throw InputError("a silo without samples cannot be trained on");
  if (static_cast<int64_t>(order.size()) < steps * tc.batch_size) throw Error("train_steps: order too short");
  const auto params = model->trainable_tensors();
  struct TrainingMode {  // LoRA dropout on for these steps only, whatever happens
    Decoder& m;
    explicit TrainingMode(Decoder& d) : m(d) { m->train(); }
    ~TrainingMode() { m->eval(); }
  } mode(model);
  double loss_sum = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const NvtxRange range("training step");
    std::vector<const Encoded*> batch;
    for (int64_t b = 0; b < tc.batch_size; ++b)
      batch.push_back(&data[static_cast<size_t>(order[static_cast<size_t>(s * tc.batch_size + b)])]);
    for (const auto& p : params) p.mutable_grad() = torch::Tensor();
    auto loss = per_sample_loss(model, make_batch(batch)).mean();
    loss.backward();
    if (tc.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, tc.grad_clip);
    adamw_step(params, st, tc, lr_at(tc, first_step + s, total));
    const double l = loss.item<double>();
    if (!std::isfinite(l))
      throw NumericalError("the training loss is " + std::string(std::isnan(l) ? "NaN" : "infinite") +
                           " at optimizer step " + std::to_string(first_step + s + 1) +
                           ": training diverged.\nHINT: lower train.lr, raise train.eps, or keep train.grad_clip on");
    loss_sum += l;
    if (after_step) after_step(s);
  }
  return loss_sum / static_cast<double>(std::max<int64_t>(steps, 1));
}

double train_round(Decoder& model, const std::vector<Encoded>& data, AdamState& st, const TrainConfig& tc,
                   uint64_t seed, int64_t silo, int64_t round) {
  const auto order = round_order(static_cast<int64_t>(data.size()), tc, seed, silo, round);
  // Dropout masks from (seed, silo, round) alone, like the data order: the same on any rank layout and on resume.
  if (model->config().lora_dropout > 0)
    torch::manual_seed(seed * 1000003ULL + static_cast<uint64_t>(silo) * 7919ULL + static_cast<uint64_t>(round) + 17);
  const int64_t k = silo_steps(tc, static_cast<int64_t>(data.size()));  // train.local_steps, or from train.local_epochs
  return train_steps(model, data, order, st, tc, round * k, k, tc.rounds * k);
}

void save_silo_state(const std::string& path, const torch::Tensor& theta, const AdamState& st) {
  const auto t = theta.reshape(-1).to(torch::kCPU, torch::kFloat32).contiguous();
  const auto m = flatten(st.m).to(torch::kCPU, torch::kFloat32).contiguous();
  const auto v = flatten(st.v).to(torch::kCPU, torch::kFloat32).contiguous();
  write_state_file(path, st.step, t.numel(), t.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>());
}

torch::Tensor read_silo_state_flat(const std::string& path, int64_t P, int64_t* step) {
  auto flat = torch::empty({3 * P}, torch::kFloat32);
  const int64_t s = read_state_file(path, P, flat.data_ptr<float>());
  if (step != nullptr) *step = s;
  return flat;
}

SiloState load_silo_state(const std::string& path, const std::vector<torch::Tensor>& params) {
  int64_t P = 0;
  for (const auto& p : params) P += p.numel();
  SiloState s;
  int64_t step = 0;
  const auto flat = read_silo_state_flat(path, P, &step);
  s.theta = flat.narrow(0, 0, P);
  s.adam = AdamState::zeros_like(params);
  s.adam.step = step;
  unflatten_into(flat.narrow(0, P, P), s.adam.m);
  unflatten_into(flat.narrow(0, 2 * P, P), s.adam.v);
  return s;
}

namespace {

// Trains hosted silo `s` for one round from `theta` with the Adam state of its state file,
// checks what it trained and parks weights and state in that file. Returns the mean loss.
double train_and_park(const Comm& comm, Decoder& model, const LocalSilo& s, const torch::Tensor& theta,
                      const TrainConfig& tc, uint64_t seed, int64_t round) {
  const auto params = model->trainable_tensors();
  unflatten_into(theta, params);
  AdamState st = load_silo_state(s.state, params).adam;
  const std::string where = "silo " + (s.name.empty() ? std::to_string(s.index) : s.name) + ", round " + std::to_string(round + 1);
  double loss = 0;
  try {
    loss = train_round(model, s.data(), st, tc, seed, s.index, round);
  } catch (const NumericalError& e) {
    throw NumericalError(where + ": " + e.what());
  }
  const auto flat = flatten(params);
  // A finite loss can still leave NaN/inf weights or moments (an overflowing second
  // moment, say): stop here, before they are averaged into every silo or scored.
  for (const auto& [what, t] : {std::pair<const char*, torch::Tensor>{"weights", flat}, {"Adam first moments", flatten(st.m)},
                                {"Adam second moments", flatten(st.v)}})
    if (!torch::isfinite(t).all().item<bool>() || injected("nan_state", comm.rank()))
      throw NumericalError(where + ": the trained " + std::string(what) + " hold NaN or infinite values: training "
                           "diverged.\nHINT: lower train.lr, raise train.eps, or keep train.grad_clip on");
  save_silo_state(s.state, flat, st);
  failpoint("silo_trained", comm.rank());
  return loss;
}

}  // namespace

double solo_round(const Comm& comm, Decoder& model, const LocalSilo& s, const TrainConfig& tc, uint64_t seed, int64_t round) {
  const auto params = model->trainable_tensors();
  int64_t P = 0;
  for (const auto& p : params) P += p.numel();
  const auto theta = read_silo_state_flat(s.state, P).narrow(0, 0, P).to(params.front().device());
  return train_and_park(comm, model, s, theta, tc, seed, round);
}

std::vector<double> round_counts(const std::vector<double>& counts, const TrainConfig& tc, uint64_t seed, int64_t round) {
  if (tc.sample_silos <= 0) return counts;
  const auto S = static_cast<int64_t>(counts.size());
  const int64_t m = tc.sample_silos >= 1 ? std::min<int64_t>(S, static_cast<int64_t>(tc.sample_silos))
                                         : std::max<int64_t>(1, std::llround(tc.sample_silos * static_cast<double>(S)));
  const auto drawn = select_random(S, m, seed, -1 - round);  // a stream of its own: not any silo's data order
  std::vector<double> out(counts.size(), 0.0);
  for (size_t j = 0; j < out.size(); ++j)
    if (drawn[j]) out[j] = counts[j];
  return out;
}

RoundResult federated_round(const Comm& comm, Decoder& model, const std::vector<LocalSilo>& mine,
                            const std::vector<double>& counts, const std::function<int(int64_t)>& owner,
                            const torch::Tensor& theta, const TrainConfig& tc, uint64_t seed, int64_t round,
                            bool average_moments) {
  const int64_t P = theta.numel();
  double total = 0;
  for (double c : counts) total += c;
  double loss_local = 0;
  std::map<int64_t, const LocalSilo*> hosted;
  for (const auto& s : mine) hosted[s.index] = &s;
  // Divergence on any rank stops every rank with one message (not one per rank and MPI_Abort).
  agree_on_errors(comm, [&] {
    for (const auto& s : mine) {
      const double n = counts[static_cast<size_t>(s.index)];
      if (n > 0) loss_local += n / total * train_and_park(comm, model, s, theta, tc, seed, round);
    }
  });
  RoundResult r;
  r.loss = comm.allreduce_sum(loss_local);
  // One averaging of [theta | m | v]: the same additions as three separate ones.
  const int64_t len = average_moments ? 3 * P : P;
  const auto avg = federated_average(comm, counts, owner, [&](int64_t j) {
    const auto flat = read_silo_state_flat(hosted.at(j)->state, P);
    return average_moments ? flat : flat.narrow(0, 0, P);
  }, len, theta.device(), /*one_at_a_time=*/true);  // items are file reads: hold one at a time
  r.theta = average_moments ? avg.narrow(0, 0, P).clone() : avg;
  if (average_moments) {
    r.m = avg.narrow(0, P, P).clone();
    r.v = avg.narrow(0, 2 * P, P).clone();
  }
  return r;
}

torch::Tensor federated_average(const Comm& comm, const std::vector<double>& counts,
                                const std::function<int(int64_t)>& owner,
                                const std::function<torch::Tensor(int64_t)>& local, int64_t numel,
                                const torch::Device& device, bool one_at_a_time) {
  double total = 0;
  std::vector<int64_t> live;  // items of weight 0 (not drawn this round, or nothing kept) add nothing: not sent
  for (size_t j = 0; j < counts.size(); ++j) {
    total += counts[j];
    if (counts[j] > 0) live.push_back(static_cast<int64_t>(j));
  }
  if (total <= 0) throw InputError("federated averaging needs at least one sample");
  const auto item = [&](int64_t k) { return live[static_cast<size_t>(k)]; };
  return ordered_sum(comm, static_cast<int64_t>(live.size()), [&](int64_t k) { return owner(item(k)); }, numel,
                     [&](int64_t k) {
                       const int64_t j = item(k);
                       const auto t = local(j).to(torch::kFloat32) * (counts[static_cast<size_t>(j)] / total);
                       TORCH_CHECK(t.numel() == numel, "federated_average: item has the wrong size");
                       return t.reshape(-1);
                     }, device, int64_t{1} << 26, one_at_a_time);
}

}  // namespace clues
