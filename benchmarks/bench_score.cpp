// clues-bench-score: scoring throughput of one engine on synthetic data, with the flags of
// the Python peer (shared/peers/reference_scoring.py) so both run the same shape, plus a
// plain batched training step (forward + backward) of the same model in the same run as
// the in-program baseline. Prints one JSON line.
// For the benchmark suite (benchmarks/bench.py): --warmup iterations are run and not timed,
// --iterations are timed one by one (validation gradient, then scoring), and the record
// carries a checksum of the scores (sum, |sum|, L2, the first few) that the suite verifies
// against a stored reference, and the process's peak resident memory. --shard I/N scores
// only the I-th of N equal slices of the --samples samples (strong scaling: the checksums
// of the N slices add up to the whole one's).
#include <torch/torch.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "lib/dist/process_stats.h"
#include "lib/model/batches.h"
#include "lib/method/engines.h"
#include "lib/model/model.h"
#include "lib/method/score.h"

namespace po = boost::program_options;
using namespace clues;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<Encoded> random_samples(int64_t n, int64_t seq, int64_t prompt, int64_t vocab, torch::Generator& gen) {
  auto ids = torch::randint(0, vocab, {n, seq}, gen, torch::kInt64);
  std::vector<Encoded> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto row = ids[i];
    out[static_cast<size_t>(i)].ids.assign(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + seq);
    out[static_cast<size_t>(i)].response_start = prompt;
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t vocab = 260, d_model = 256, layers = 4, heads = 4, kv_heads = 0, hidden = 688, lora_rank = 16, seq = 128,
          prompt = 32, samples = 256, validation = 32, batch = 32, warmup = 0, iterations = 1, first = 8;
  double lora_alpha = 16;
  int threads = 1;
  uint64_t seed = 0;
  std::string dtype = "float32", engine = "batched", device = "cpu", attention = "sdpa";
  std::string shard = "0/1";
  bool adam = false, no_train_step = false;
  po::options_description opts("clues-bench-score: per-sample scoring throughput (one JSON line)");
  opts.add_options()("help,h", "help")
      ("engine", po::value(&engine)->default_value(engine), "loop | batched | ghost")
      ("adam", po::bool_switch(&adam), "Adam-preconditioned scores (batched and loop only)")
      ("warmup", po::value(&warmup)->default_value(warmup), "untimed iterations before the timed ones")
      ("iterations", po::value(&iterations)->default_value(iterations), "timed iterations (validation gradient + scoring)")
      ("shard", po::value(&shard)->default_value(shard), "I/N: score the I-th of N equal slices of the samples")
      ("first", po::value(&first)->default_value(first), "scores listed in the record (score_first)")
      ("no-train-step", po::bool_switch(&no_train_step), "skip the training-step baseline")
      ("kv-heads", po::value(&kv_heads)->default_value(kv_heads), "key/value heads (grouped-query attention); 0: heads")
      ("vocab", po::value(&vocab)->default_value(vocab), "")("d-model", po::value(&d_model)->default_value(d_model), "")
      ("layers", po::value(&layers)->default_value(layers), "")("heads", po::value(&heads)->default_value(heads), "")
      ("hidden", po::value(&hidden)->default_value(hidden), "")
      ("lora-rank", po::value(&lora_rank)->default_value(lora_rank), "")
      ("lora-alpha", po::value(&lora_alpha)->default_value(lora_alpha), "")
      ("seq-len", po::value(&seq)->default_value(seq), "")("prompt-len", po::value(&prompt)->default_value(prompt), "")
      ("samples", po::value(&samples)->default_value(samples), "")
      ("validation", po::value(&validation)->default_value(validation), "samples in the mean validation gradient")
      ("batch", po::value(&batch)->default_value(batch), "")
      ("threads", po::value(&threads)->default_value(threads), "0 keeps LibTorch's default")
      ("seed", po::value(&seed)->default_value(seed), "")
      ("dtype", po::value(&dtype)->default_value(dtype), "float32 | bfloat16 (bfloat16 also reports its score error against float32)")
      ("device", po::value(&device)->default_value(device), "cpu | cuda (GPU 0)")
      ("attention", po::value(&attention)->default_value(attention), "sdpa (fused) | manual (the reference)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "clues-bench-score: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (dtype != "float32" && dtype != "bfloat16") {
    std::cerr << "clues-bench-score: --dtype must be float32 or bfloat16\n";
    return 2;
  }
  if (device != "cpu" && device != "cuda") {
    std::cerr << "clues-bench-score: --device must be cpu or cuda\n";
    return 2;
  }
  int64_t shard_i = 0, shard_n = 1;
  {
    std::istringstream ss(shard);
    char slash = 0;
    if (!(ss >> shard_i >> slash >> shard_n) || slash != '/' || !ss.eof() || shard_n < 1 || shard_i < 0 ||
        shard_i >= shard_n || samples % shard_n != 0) {
      std::cerr << "clues-bench-score: --shard must be I/N with 0 <= I < N and N dividing --samples, got '" << shard
                << "'\n";
      return 2;
    }
  }
  if (warmup < 0 || iterations < 1) {
    std::cerr << "clues-bench-score: --warmup must be >= 0 and --iterations >= 1\n";
    return 2;
  }
  if (engine == "ghost" && adam) {
    std::cerr << "clues-bench-score: the ghost engine has no Adam preconditioning; drop --adam or use --engine batched\n";
    return 2;
  }
  try {
    if (threads > 0) torch::set_num_threads(threads);
    ModelConfig mc;
    mc.vocab = vocab;
    mc.d_model = d_model;
    mc.layers = layers;
    mc.heads = heads;
    mc.kv_heads = kv_heads;
    mc.hidden = hidden;
    mc.lora_rank = lora_rank;
    mc.lora_alpha = lora_alpha;
    mc.max_seq_len = seq;
    mc.lora_targets = {"q", "v"};
    mc.attention = parse_choice<Attention>("--attention", attention);
    Decoder model = make_model(mc, seed);
    {
      torch::NoGradGuard ng;  // LoRA B non-zero, as in a trained checkpoint (the peer: randn * 0.01)
      for (auto& p : model->named_parameters(true))
        if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0.0, 0.01);
    }
    const auto st = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
    const torch::Device dev = device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    model->to(dev, st);
    // Wall time of work queued on the GPU: wait for it before reading the clock.
    auto sync = [&] {
      if (dev.is_cuda()) torch::cuda::synchronize();
    };
    auto gen = at::detail::createCPUGenerator(seed);
    const auto all_data = random_samples(samples, seq, prompt, vocab, gen);
    const int64_t per_shard = samples / shard_n;
    const std::vector<Encoded> data(all_data.begin() + shard_i * per_shard, all_data.begin() + (shard_i + 1) * per_shard);
    const int64_t scored = per_shard;
    const auto vdata = random_samples(validation, seq, prompt, vocab, gen);
    const int64_t P = model->trainable_numel();
    Preconditioner pre;
    if (adam) pre = {torch::randn({P}, gen) * 1e-4, torch::rand({P}, gen) * 1e-6, 0.9, 0.999, 1e-8};
    const double lr = 2e-5;

    ScoreConfig sc;
    sc.engine = parse_choice<Engine>("--engine", engine);
    sc.batch_size = batch;
    // One iteration: the validation gradient (the target), then the scores of the samples.
    // Warm-up iterations first, untimed in the record; each timed one is timed on its own.
    torch::Tensor target;
    std::vector<double> dots, first_dots, validation_s, score_s;
    double rel_diff_iterations = 0;  // largest score difference between timed iterations, relative to max |score|
    for (int64_t it = 0; it < warmup + iterations; ++it) {
      sync();
      double t0 = now_s();
      target = mean_grad(model, vdata, batch);  // in chunks of --batch, as clues does
      sync();
      const double tv = now_s() - t0;
      t0 = now_s();
      dots = score_samples(sc, model, data, target, pre, seq);
      sync();
      const double ts = now_s() - t0;
      if (it < warmup) continue;
      validation_s.push_back(tv);
      score_s.push_back(ts);
      if (first_dots.empty()) {
        first_dots = dots;
      } else {
        double d = 0, m = 0;
        for (size_t i = 0; i < dots.size(); ++i) {
          d = std::max(d, std::abs(dots[i] - first_dots[i]));
          m = std::max(m, std::abs(first_dots[i]));
        }
        rel_diff_iterations = std::max(rel_diff_iterations, d / std::max(m, 1e-300));
      }
    }
    const double elapsed = median(score_s), t_validation = median(validation_s);
    double checksum = 0, sum = 0, abs_sum = 0, sq_sum = 0;
    int64_t nonfinite = 0;
    for (double d : dots) {
      checksum += lr * d;
      sum += d;
      abs_sum += std::abs(d);
      sq_sum += d * d;
      nonfinite += std::isfinite(d) ? 0 : 1;
    }
    const std::vector<double> first_scores(dots.begin(), dots.begin() + std::min<int64_t>(first, scored));

    // Baseline in the same program and dtype: a plain batched training step (forward and
    // backward to the trainable parameters' gradients) over the same samples.
    const auto params = model->trainable_tensors();
    double t_train = 0;
    if (!no_train_step) {
      const double t0 = now_s();
      for_each_batch(scored, batch, [&](int64_t begin, int64_t end) {
        for (const auto& p : params) p.mutable_grad() = torch::Tensor();
        per_sample_loss(model, make_batch(batch_of(data, begin, end))).mean().backward();
      });
      sync();
      t_train = now_s() - t0;
    }
    int64_t model_params = 0;
    for (const auto& p : model->parameters(true)) model_params += p.numel();

    // samples: the samples scored by this process (the whole --samples unless --shard).
    nlohmann::json out{{"engine", engine}, {"adam", adam}, {"dtype", dtype}, {"samples", scored},
                       {"seconds", elapsed}, {"samples_per_s", static_cast<double>(scored) / elapsed},
                       {"validation_seconds", t_validation},
                       {"trainable_params", P}, {"threads", torch::get_num_threads()}, {"batch", batch},
                       {"score_checksum", checksum}, {"device", device}, {"attention", attention},
                       {"model_params", model_params}, {"warmup", warmup}, {"iterations", iterations},
                       {"shard", shard}, {"seed", seed}, {"iteration_score_seconds", score_s},
                       {"iteration_validation_seconds", validation_s},
                       {"iteration_score_max_rel_diff", rel_diff_iterations}, {"score_count", scored},
                       {"score_sum", sum}, {"score_abs_sum", abs_sum}, {"score_sq_sum", sq_sum},
                       {"score_l2", std::sqrt(sq_sum)}, {"score_nonfinite", nonfinite}, {"score_first", first_scores}};
    if (!no_train_step) {
      out["train_step_samples_per_s"] = static_cast<double>(scored) / t_train;
      out["ratio_vs_train_step"] = t_train / elapsed;
    }
    if (dtype == "bfloat16") {
      // The same engine in float32 on the same (bfloat16-rounded) weights and target.
      model->to(dev, torch::kFloat32);
      const auto ref = score_samples(sc, model, data, target, pre, seq);
      double max_err = 0, max_ref = 0, num = 0, den_a = 0, den_b = 0, ma = 0, mb = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        max_err = std::max(max_err, std::abs(dots[i] - ref[i]));
        max_ref = std::max(max_ref, std::abs(ref[i]));
        ma += dots[i];
        mb += ref[i];
      }
      ma /= static_cast<double>(ref.size());
      mb /= static_cast<double>(ref.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        num += (dots[i] - ma) * (ref[i] - mb);
        den_a += (dots[i] - ma) * (dots[i] - ma);
        den_b += (ref[i] - mb) * (ref[i] - mb);
      }
      out["score_max_abs_error_vs_float32_relative"] = max_err / std::max(max_ref, 1e-300);
      out["score_pearson_vs_float32"] = num / std::sqrt(den_a * den_b);
    }
    const double rss = peak_rss_mib();
    out["peak_rss_kib"] = rss < 0 ? -1 : std::llround(rss * 1024);
    out["peak_device_mib"] = dev.is_cuda() ? cuda_peak_mib(dev.index()) : -1.0;
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "clues-bench-score: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
