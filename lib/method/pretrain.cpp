// Pretraining of the base model and its cache (lib/method/pretrain.h).
#include "lib/method/pretrain.h"

#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "lib/model/checkpoint.h"
#include "lib/dist/collectives.h"
#include "lib/dist/log.h"
#include "lib/model/tokenizer.h"
#include "lib/method/train.h"

namespace clues {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void fnv1a(uint64_t& h, const std::string& bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
}
}  // namespace

std::vector<Encoded> read_corpus(const std::vector<std::string>& paths, int64_t max_len) {
  std::vector<Encoded> out;
  for (const auto& p : paths) {
    if (ends_with(p, ".jsonl")) {
      for (const auto& r : read_jsonl(p)) out.push_back(encode_sample(r, max_len));
      continue;
    }
    std::stringstream ss(read_text(p));
    std::string line;
    while (std::getline(ss, line)) {
      if (line.empty()) continue;
      Encoded e;
      e.ids.push_back(kBos);
      auto bytes = encode_bytes(line);
      if (static_cast<int64_t>(bytes.size()) > max_len - 2) {
        bytes.resize(static_cast<size_t>(max_len - 2));
        e.truncated = true;
      }
      e.ids.insert(e.ids.end(), bytes.begin(), bytes.end());
      e.ids.push_back(kEos);
      e.response_start = 1;
      out.push_back(std::move(e));
    }
  }
  if (out.empty()) throw InputError("the --pretrain corpus holds no samples");
  return out;
}

std::string pretrain_key(const Config& cfg) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& p : cfg.pretrain.corpus) {
    fnv1a(h, std::string("\0file\0", 6));
    fnv1a(h, read_text(p));
  }
  // Every setting the base depends on (the key table's "base" keys) and its seed.
  std::ostringstream os;
  os << base_settings(cfg) << "seed = " << pretrain_seed(cfg) << "\nv2";
  fnv1a(h, os.str());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

uint64_t pretrain_seed(const Config& cfg) {
  return cfg.pretrain.seed >= 0 ? static_cast<uint64_t>(cfg.pretrain.seed) : cfg.seed;
}

std::string pretrain_file(const Config& cfg) { return cfg.pretrain.cache + "/base_" + pretrain_key(cfg) + ".h5"; }

namespace {
// Trains every weight of a fresh model of the run's shape on the corpus, data-parallel:
// each step's batch is cut into micro-batches spread over the ranks, and their gradient
// sums are added in micro-batch order (Comm::ordered_sum), so every rank applies the same
// AdamW step and the result does not depend on the number of ranks.
Decoder train_base(const Config& cfg, const Comm& comm, const torch::Device& device) {
  ModelConfig mc = cfg.model;
  mc.finetune = Finetune::kFull;
  Decoder base = make_model(mc, pretrain_seed(cfg));
  base->to(device);
  const auto data = read_corpus(cfg.pretrain.corpus, mc.max_seq_len);
  TrainConfig tc = cfg.train;
  tc.lr = cfg.pretrain.lr;
  tc.batch_size = cfg.pretrain.batch_size;
  tc.rounds = 1;
  tc.local_steps = cfg.pretrain.steps;
  tc.local_epochs = 0;  // pretraining counts steps
  const auto order = round_order(static_cast<int64_t>(data.size()), tc, pretrain_seed(cfg), -1, 0);
  const auto params = base->trainable_tensors();
  const int64_t P = base->trainable_numel();
  AdamState st = AdamState::zeros_like(params);
  const int64_t micro = std::max<int64_t>(1, std::min<int64_t>(8, tc.batch_size));
  const int64_t n_micro = (tc.batch_size + micro - 1) / micro;
  log0(comm, "pretraining the base model: " + std::to_string(data.size()) + " public samples, " +
                 std::to_string(tc.local_steps) + " steps of " + std::to_string(tc.batch_size) +
                 " (all weights, data-parallel over " + std::to_string(comm.size()) + " rank(s))");
  Progress progress(comm, "pretraining", tc.local_steps, cfg.progress_s);
  double loss_sum = 0;
  const int64_t report_every = std::max<int64_t>(1, tc.local_steps / 10);
  for (int64_t s = 0; s < tc.local_steps; ++s) {
    const auto gsum = ordered_sum(comm, n_micro, [&](int64_t j) { return static_cast<int>(j % comm.size()); }, P + 1,
                                  [&](int64_t j) {
                                    std::vector<const Encoded*> b;
                                    for (int64_t i = j * micro; i < std::min((j + 1) * micro, tc.batch_size); ++i)
                                      b.push_back(&data[static_cast<size_t>(order[static_cast<size_t>(s * tc.batch_size + i)])]);
                                    for (const auto& p : params) p.mutable_grad() = torch::Tensor();
                                    auto loss = per_sample_loss(base, make_batch(b)).sum();
                                    loss.backward();
                                    return torch::cat({flatten_grads(params), loss.detach().to(torch::kFloat32).reshape({1})});
                                  }, device);
    const double bs = static_cast<double>(tc.batch_size);
    const auto g = gsum.narrow(0, 0, P) / bs;
    const auto pieces = split_like(g, params);
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = pieces[i].clone();
    if (tc.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, tc.grad_clip);
    adamw_step(params, st, tc, lr_at(tc, s, tc.local_steps));
    loss_sum += gsum[P].item<double>() / bs;
    progress.update(s + 1);
    if ((s + 1) % report_every == 0 || s + 1 == tc.local_steps) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "pretraining step %lld: mean loss %.4f since the last line",
                    static_cast<long long>(s + 1), loss_sum / static_cast<double>((s % report_every) + 1));
      log0(comm, buf);
      loss_sum = 0;
    }
  }
  progress.finish();
  return base;
}
}  // namespace

void pretrain_base(const Config& cfg, const Comm& comm, Decoder& model, const torch::Device& device) {
  if (cfg.pretrain.corpus.empty()) return;
  std::map<std::string, torch::Tensor> target;
  for (const auto& p : model->named_parameters(true)) target.emplace(p.key(), p.value());
  const std::string path = comm.is_root() ? pretrain_file(cfg) : std::string();  // hashes the corpus: rank 0 only
  int cached = comm.is_root() && file_exists(path) ? 1 : 0;
  comm.broadcast(&cached, sizeof cached);
  NamedTensors base;  // every parameter of a full model: the pretrained base (rank 0)
  Decoder holder{nullptr};
  if (cached) {
    if (comm.is_root()) {
      ModelConfig mc = cfg.model;
      mc.finetune = Finetune::kFull;
      holder = make_model(mc, pretrain_seed(cfg));
      for (const auto& p : holder->named_parameters(true)) base.emplace_back(p.key(), p.value());
      read_tensors(H5File::open_read(path), "/params", base);
      log0(comm, "pretrained base reused: " + path);
    }
  } else {
    holder = train_base(cfg, comm, device);  // every rank takes part
    if (comm.is_root()) {
      for (const auto& p : holder->named_parameters(true)) base.emplace_back(p.key(), p.value());
      make_dirs(cfg.pretrain.cache);
      write_h5_file(path, [&](H5File& f) {
        write_tensors(f, "/params", base);
        f.set_attr("/", "config", cfg.to_ini());
      });
      log0(comm, "pretrained base saved: " + path);
    }
  }
  torch::NoGradGuard ng;
  for (const auto& [name, t] : base) {
    auto it = target.find(name);
    if (it == target.end() || !it->second.sizes().equals(t.sizes()))
      throw Error("pretrained base: parameter " + name + " does not fit the model");
    it->second.copy_(t);
  }
  // Same bytes on every rank (rank 0 read or saved them; LoRA adapters were identical).
  for (auto& [name, t] : target) {
    TORCH_CHECK(t.is_contiguous() && t.scalar_type() == torch::kFloat32, "pretrain: parameter layout");
    broadcast(comm, t);
  }
}

}  // namespace clues
