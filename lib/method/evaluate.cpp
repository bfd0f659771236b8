// Held-out evaluation and baseline losses (lib/method/evaluate.h).
#include "lib/method/evaluate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "lib/model/batches.h"

namespace clues {

namespace {

// Runs `fn` on the data in batches of `batch` samples; fn gives one [n] tensor per output.
std::vector<std::vector<double>> per_sample(const std::vector<Encoded>& data, int64_t batch, size_t outputs,
                                            const std::function<std::vector<torch::Tensor>(const Batch&)>& fn) {
  torch::NoGradGuard ng;
  std::vector<std::vector<double>> out(outputs);
  for (auto& o : out) o.reserve(data.size());
  for_each_batch(static_cast<int64_t>(data.size()), batch, [&](int64_t begin, int64_t end) {
    const auto ts = fn(make_batch(batch_of(data, begin, end)));
    for (size_t k = 0; k < outputs; ++k) {
      const auto l = ts.at(k).to(torch::kCPU, torch::kFloat64).contiguous();
      out[k].insert(out[k].end(), l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
    }
  });
  return out;
}

}  // namespace

std::vector<double> sample_losses(Decoder& model, const std::vector<Encoded>& data, int64_t batch) {
  return per_sample(data, batch, 1, [&](const Batch& b) { return std::vector<torch::Tensor>{per_sample_loss(model, b)}; })[0];
}

LossColumns sample_loss_columns(Decoder& model, const std::vector<Encoded>& data, int64_t batch) {
  auto out = per_sample(data, batch, 2, [&](const Batch& b) {
    auto s = per_sample_loss_stats(model, b);
    return std::vector<torch::Tensor>{s.mean, s.max_token};
  });
  return {std::move(out[0]), std::move(out[1])};
}

Encoded answer_alone(const Encoded& e, int64_t bos) {
  Encoded a;
  a.ids.push_back(bos);
  a.ids.insert(a.ids.end(), e.ids.begin() + e.response_start, e.ids.end());
  a.response_start = 1;
  a.truncated = e.truncated;
  return a;
}

std::vector<uint8_t> greedy_exact_match(Decoder& model, const std::vector<Encoded>& data, int64_t batch) {
  torch::NoGradGuard ng;
  std::vector<uint8_t> out(data.size(), 0);
  const int64_t max_len = model->config().max_seq_len;
  for_each_batch(static_cast<int64_t>(data.size()), batch, [&](int64_t begin, int64_t end) {
    const size_t s = static_cast<size_t>(begin);
    const int64_t B = end - begin;
    std::vector<std::vector<int64_t>> seq(static_cast<size_t>(B));
    std::vector<int64_t> want(static_cast<size_t>(B));
    std::vector<bool> active(static_cast<size_t>(B), true);
    for (int64_t b = 0; b < B; ++b) {
      const Encoded& x = data[s + static_cast<size_t>(b)];
      seq[static_cast<size_t>(b)].assign(x.ids.begin(), x.ids.begin() + x.response_start);
      want[static_cast<size_t>(b)] = static_cast<int64_t>(x.ids.size()) - x.response_start;
    }
    for (int64_t step = 0;; ++step) {
      int64_t L = 0, live = 0;
      for (int64_t b = 0; b < B; ++b)
        if (active[static_cast<size_t>(b)]) {
          L = std::max<int64_t>(L, static_cast<int64_t>(seq[static_cast<size_t>(b)].size()));
          ++live;
        }
      if (live == 0) break;
      // Right padding: with causal attention a sample's last position never sees the pads.
      auto ids = torch::full({B, L}, 0, torch::kLong);
      auto* ip = ids.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        const auto& q = seq[static_cast<size_t>(b)];
        for (size_t t = 0; t < q.size() && static_cast<int64_t>(t) < L; ++t) ip[b * L + static_cast<int64_t>(t)] = q[t];
      }
      const auto pos = torch::arange(L, torch::kLong).unsqueeze(0).expand({B, L}).contiguous();
      const auto mask = torch::full({L, L}, -std::numeric_limits<float>::infinity()).triu(1);
      const auto dev = device_of(model);
      const auto next = model->forward(ids.to(dev), pos.to(dev), mask.to(dev)).argmax(-1).cpu().contiguous();  // [B,L]
      const auto* np = next.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        if (!active[static_cast<size_t>(b)]) continue;
        auto& q = seq[static_cast<size_t>(b)];
        q.push_back(np[b * L + static_cast<int64_t>(q.size()) - 1]);
        const int64_t made = step + 1;
        if (q.back() == model->config().eos_id || made >= want[static_cast<size_t>(b)] || static_cast<int64_t>(q.size()) >= max_len)
          active[static_cast<size_t>(b)] = false;
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      const Encoded& x = data[s + static_cast<size_t>(b)];
      const auto& q = seq[static_cast<size_t>(b)];
      out[s + static_cast<size_t>(b)] =
          q.size() == x.ids.size() && std::equal(q.begin() + x.response_start, q.end(), x.ids.begin() + x.response_start);
    }
  });
  return out;
}

TestMetrics evaluate(Decoder& model, const std::vector<Encoded>& data, int64_t batch) {
  TestMetrics m;
  if (data.empty()) return m;
  const auto l = sample_losses(model, data, batch);
  double sum = 0;
  for (double v : l) sum += v;
  m.loss = sum / static_cast<double>(l.size());
  m.perplexity = std::exp(m.loss);
  const auto em = greedy_exact_match(model, data, batch);
  double hits = 0;
  for (auto v : em) hits += v;
  m.exact_match = hits / static_cast<double>(em.size());
  return m;
}

}  // namespace clues
