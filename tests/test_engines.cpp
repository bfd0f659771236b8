// Parity of the fast scoring engines with the loop reference: per-sample gradients of the
// batched engine and inner products of the ghost engine on several random models and
// mixed-length packed batches, in float32, for LoRA and full fine-tuning; packing keeps
// samples apart; the random projection preserves inner products within the JL bound.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include "io/error.h"
#include "lib/dist/comm.h"
#include "lib/method/engines.h"
#include "lib/model/model.h"
#include "lib/dist/device.h"
#include "lib/method/pretrain.h"
#include "lib/method/score.h"
#include "synthetic.h"
#include "test_models.h"

using namespace clues;

namespace {

std::vector<Encoded> mixed_samples(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<Encoded> out;
  for (int i = 0; i < n; ++i) {
    const std::string w = clues::testing::random_word(rng, 1, 12);
    out.push_back(encode_sample({"Reverse:", i % 3 ? w : "", std::string(w.rbegin(), w.rend()) + (i % 2 ? "!" : ""), ""}, 64));
  }
  return out;
}

std::vector<const Encoded*> ptrs(const std::vector<Encoded>& v) {
  std::vector<const Encoded*> p;
  for (const auto& e : v) p.push_back(&e);
  return p;
}

Decoder random_model(const std::string& finetune, uint64_t seed) {
  Decoder m = make_model(clues::testing::test_model_config(finetune, 16, 24, 3, {"q", "v", "up"}), seed);
  clues::testing::perturb(m, true);
  return m;
}

// Tolerance for float32 engines against the loop engine: relative to the largest entry.
constexpr double kRtol = 2e-4;

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_TRUE(torch::isfinite(a).all().item<bool>()) << what << ": NaN/inf";
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(1e-12, b.abs().max().item<double>());
  const double err = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  EXPECT_LE(err, kRtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

}  // namespace

// The fused attention (model.attention=sdpa, the default) against the reference (manual:
// matmul, additive mask, softmax): losses and per-sample gradients, one sample per row and
// packed rows with block-diagonal masks.
TEST(Attention, FusedEqualsReference) {
  auto cfg = clues::testing::test_model_config("lora", 16, 24, 3, {"q", "v", "up"});
  cfg.attention = Attention::kManual;
  Decoder ref = make_model(cfg, 5);
  clues::testing::perturb(ref, true);
  cfg.attention = Attention::kSdpa;
  Decoder fused = make_model(cfg, 5);
  clues::testing::perturb(fused, true);
  ASSERT_TRUE(torch::equal(flatten(ref->trainable_tensors()), flatten(fused->trainable_tensors())));
  const auto data = mixed_samples(8, 9);
  const auto p = ptrs(data);
  expect_close(per_sample_loss(fused, make_batch(p)), per_sample_loss(ref, make_batch(p)), "losses, one sample per row");
  expect_close(per_sample_loss(fused, pack_batch(p, 64)), per_sample_loss(ref, pack_batch(p, 64)), "losses, packed rows");
  expect_close(batched_grads(fused, p, 64), batched_grads(ref, p, 64), "per-sample gradients, packed rows");
  EXPECT_FALSE(ref->blocks[0]->sdpa);  // each model really runs its own path
  EXPECT_TRUE(fused->blocks[0]->sdpa);
}

class EngineParity : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(EngineParity, BatchedAndGhostEqualLoop) {
  const auto [finetune, seed] = GetParam();
  Decoder model = random_model(finetune, static_cast<uint64_t>(seed));
  const auto data = mixed_samples(static_cast<uint32_t>(seed), 7);
  const auto p = ptrs(data);
  std::vector<torch::Tensor> loop;
  for (const auto& e : data) loop.push_back(sample_grad(model, e));
  const auto ref = torch::stack(loop);
  EXPECT_GT(ref.abs().sum().item<double>(), 0.0);
  for (int64_t row_len : {int64_t{64}, int64_t{128}}) {  // 64: about one sample per row; 128: several
    const auto g = batched_grads(model, p, row_len);
    expect_close(g, ref, finetune + " batched grads, rows of " + std::to_string(row_len));
    const auto target = torch::randn({model->trainable_numel()});
    const auto ghost = ghost_dots(model, p, target, row_len);
    expect_close(ghost, torch::mv(ref.to(torch::kFloat64), target.to(torch::kFloat64)),
                 finetune + " ghost dots, rows of " + std::to_string(row_len));
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineParity,
                         ::testing::Combine(::testing::Values("lora", "full"), ::testing::Values(1, 2, 3)));

// The shapes of Hugging Face's LLaMA family (lib/model/hf_model.h) in the engines: grouped-query
// attention, rotate_half positions, q/k/v and o biases, a head tied to the embedding (full
// fine-tuning adds the head's share to the embedding's gradient), against the loop.
class LlamaFamilyParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaFamilyParity, BatchedAndGhostEqualLoop) {
  auto cfg = clues::testing::test_model_config(GetParam(), 16, 24, 3, {"q", "k", "o", "down"});
  cfg.heads = 4;
  cfg.kv_heads = 2;
  cfg.rope_style = RopeStyle::kHalf;
  cfg.qkv_bias = cfg.o_bias = true;
  cfg.tied = true;
  Decoder model = make_model(cfg, 11);
  clues::testing::perturb(model, true);
  {
    torch::NoGradGuard ng;
    for (auto& p : model->named_parameters(true))
      if (p.key().size() > 5 && p.key().substr(p.key().size() - 5) == ".bias") p.value().normal_(0.0, 0.2);
  }
  ASSERT_EQ(model->blocks[0]->k->weight.size(0), 2 * 4);  // kv_heads x head_dim
  ASSERT_TRUE(model->head->weight.is_same(model->embed->weight));
  const auto data = mixed_samples(11, 7);
  const auto p = ptrs(data);
  std::vector<torch::Tensor> loop;
  for (const auto& e : data) loop.push_back(sample_grad(model, e));
  const auto ref = torch::stack(loop);
  EXPECT_GT(ref.abs().sum().item<double>(), 0.0);
  const auto g = batched_grads(model, p, 128);
  expect_close(g, ref, GetParam() + " batched grads");
  const auto target = torch::randn({model->trainable_numel()});
  expect_close(ghost_dots(model, p, target, 128), torch::mv(ref.to(torch::kFloat64), target.to(torch::kFloat64)),
               GetParam() + " ghost dots");
}

INSTANTIATE_TEST_SUITE_P(Engines, LlamaFamilyParity, ::testing::Values("lora", "full"));

// Base weights in bfloat16 with float32 LoRA (model.dtype=bfloat16): the batched engine
// against the loop on the same bfloat16 model, and both near the float32 model's gradients.
TEST(Engines, Bfloat16BaseWithFloat32Lora) {
  auto cfg = clues::testing::test_model_config("lora", 16, 24, 3, {"q", "v", "up"});
  Decoder f32 = make_model(cfg, 13);
  clues::testing::perturb(f32, true);
  cfg.dtype = DType::kBFloat16;
  Decoder bf = make_model(cfg, 13);
  {
    torch::NoGradGuard ng;
    auto src = f32->named_parameters(true);
    for (auto& p : bf->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  EXPECT_EQ(bf->blocks[0]->q->weight.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(bf->blocks[0]->q->lora_A.scalar_type(), torch::kFloat32);
  const auto data = mixed_samples(13, 5);
  std::vector<torch::Tensor> loop, loop32;
  for (const auto& e : data) {
    loop.push_back(sample_grad(bf, e));
    loop32.push_back(sample_grad(f32, e));
  }
  const auto ref = torch::stack(loop);
  const auto g = batched_grads(bf, ptrs(data), 128);
  const double scale = ref.abs().max().item<double>();
  EXPECT_LE((g - ref).abs().max().item<double>(), 2e-2 * scale) << "bfloat16 batched vs loop";
  EXPECT_LE((ref - torch::stack(loop32)).abs().max().item<double>(), 1e-1 * scale) << "bfloat16 vs float32 model";
}

TEST(Engines, ScoresWithAdamEqualLoop) {
  Decoder model = random_model("lora", 9);
  const auto data = mixed_samples(9, 11);
  const int64_t P = model->trainable_numel();
  const auto target = torch::randn({P});
  Preconditioner adam{torch::randn({P}) * 1e-3, torch::rand({P}) * 1e-5, 0.9, 0.999, 1e-8};
  ScoreConfig sc;
  sc.batch_size = 4;  // 11 samples: batches of 4, 4, 3
  const auto ref = score_loop(model, data, target, adam);
  sc.engine = Engine::kBatched;
  const auto fast = score_samples(sc, model, data, target, adam, 128);
  expect_close(torch::tensor(fast, torch::kFloat64), torch::tensor(ref, torch::kFloat64), "batched adam scores");
  Preconditioner sgd;
  const auto ref_sgd = score_loop(model, data, target, sgd);
  sc.engine = Engine::kGhost;
  const auto ghost = score_samples(sc, model, data, target, sgd, 128);
  expect_close(torch::tensor(ghost, torch::kFloat64), torch::tensor(ref_sgd, torch::kFloat64), "ghost sgd scores");
  EXPECT_THROW(score_samples(sc, model, data, target, adam, 128), c10::Error);  // ghost has no Adam
}

TEST(Packing, SamplesStayApart) {
  Decoder model = random_model("lora", 4);
  const auto data = mixed_samples(4, 6);
  const auto packed = pack_batch(ptrs(data), 200);
  EXPECT_LT(packed.ids.size(0), 6);  // several samples share a row
  const auto losses = per_sample_loss(model, packed);
  for (size_t i = 0; i < data.size(); ++i) {
    const auto alone = per_sample_loss(model, make_batch({&data[i]}));
    EXPECT_NEAR(losses[static_cast<int64_t>(i)].item<double>(), alone[0].item<double>(), 1e-5) << i;
  }
  // positions restart at 0 for every sample
  EXPECT_EQ((packed.positions == 0).logical_and(packed.seg >= 0).sum().item<int64_t>(), 6);
}

TEST(Packing, MaxTokenLossByHand) {
  Decoder model = random_model("lora", 4);
  const auto data = mixed_samples(4, 6);
  const auto packed_stats = per_sample_loss_stats(model, pack_batch(ptrs(data), 200));
  const auto packed = packed_stats.max_token;
  const auto unpacked = per_sample_loss_stats(model, make_batch(ptrs(data))).max_token;
  // The same pass's means are per_sample_loss's.
  EXPECT_TRUE(torch::equal(packed_stats.mean, per_sample_loss(model, pack_batch(ptrs(data), 200))));
  torch::NoGradGuard ng;
  for (size_t i = 0; i < data.size(); ++i) {
    // By hand: -log softmax at each target token of the sample alone, the largest of them.
    const Batch b = make_batch({&data[i]});
    const auto logp = torch::log_softmax(model->forward(b.ids, b.positions, b.mask)[0].to(torch::kFloat64), -1);
    double worst = -1;
    for (int64_t t = 0; t < b.targets.size(1); ++t) {
      const int64_t y = b.targets[0][t].item<int64_t>();
      if (y != -100) worst = std::max(worst, -logp[t][y].item<double>());
    }
    ASSERT_GT(worst, 0) << i;
    EXPECT_NEAR(packed[static_cast<int64_t>(i)].item<double>(), worst, 1e-4 * worst) << i;
    EXPECT_NEAR(unpacked[static_cast<int64_t>(i)].item<double>(), worst, 1e-4 * worst) << i;
    EXPECT_GT(worst, per_sample_loss(model, b)[0].item<double>()) << i;  // above the mean (targets differ)
  }
}

TEST(Projection, PreservesInnerProductsWithinJlBound) {
  torch::manual_seed(0);
  const int64_t n = 12, P = 3000, k = 1024;
  const auto g = torch::randn({n, P});
  const auto z = project(g, k, 42, 700);  // blocks of 700 rows: 5 blocks, the last partial
  EXPECT_TRUE(torch::equal(z, project(g, k, 42, 700)));  // seeded: the same projection again
  const auto exact = torch::mm(g, g.t()).to(torch::kFloat64);
  const auto approx = torch::mm(z, z.t()).to(torch::kFloat64);
  const auto norms = g.norm(2, 1).to(torch::kFloat64);
  // Rademacher JL: error of <Pa,Pb> has std <= sqrt(2/k)|a||b|; allow 5 std for every pair.
  const auto bound = torch::outer(norms, norms) * (5.0 * std::sqrt(2.0 / static_cast<double>(k)));
  EXPECT_TRUE(((approx - exact).abs() <= bound).all().item<bool>())
      << "max error / |a||b| = " << ((approx - exact).abs() / torch::outer(norms, norms)).max().item<double>();
  // and the projection is not the identity-like zero map: errors are of the expected size
  EXPECT_GT(((approx - exact).abs() / torch::outer(norms, norms)).max().item<double>(), 1e-4);
}

// The device choice: cpu always works, auto falls back to the CPU without a GPU, and cuda
// refuses clearly where LibTorch has no CUDA or sees no GPU.
TEST(Device, PickDevice) {
  EXPECT_TRUE(pick_device(Device::kCpu, Comm::serial()).is_cpu());
  const bool gpu = torch::cuda::is_available() && torch::cuda::device_count() > 0;
  EXPECT_EQ(pick_device(Device::kAuto, Comm::serial()).is_cuda(), gpu);
  if (!gpu) {
    EXPECT_THROW(pick_device(Device::kCuda, Comm::serial()), InputError);
  }
}

// On a GPU: the same model moved to the device scores like on the CPU (float32 tolerance),
// for the batched (Adam) and ghost engines and the loop reference.
TEST(Device, CudaScoresEqualCpuScores) {
  if (!torch::cuda::is_available() || torch::cuda::device_count() == 0)
    GTEST_SKIP() << "no GPU visible: CUDA tests skipped";
  Decoder cpu = random_model("lora", 21);
  Decoder gpu = random_model("lora", 21);
  gpu->to(torch::Device(torch::kCUDA, 0));
  const auto data = mixed_samples(21, 9);
  const int64_t P = cpu->trainable_numel();
  const auto target = torch::randn({P});
  Preconditioner adam{torch::randn({P}) * 1e-3, torch::rand({P}) * 1e-5, 0.9, 0.999, 1e-8};
  ScoreConfig sc;
  sc.batch_size = 4;
  for (const char* engine : {"loop", "batched", "ghost"}) {
    sc.engine = parse_choice<Engine>("score.engine", engine);
    const Preconditioner pre = std::string(engine) == "ghost" ? Preconditioner{} : adam;
    const auto a = score_samples(sc, cpu, data, target, pre, 128);
    const auto b = score_samples(sc, gpu, data, target, pre, 128);
    expect_close(torch::tensor(b, torch::kFloat64), torch::tensor(a, torch::kFloat64), std::string("cuda ") + engine);
  }
}
