// Unit tests of the LibTorch parts: model gradients against finite differences, the
// per-sample gradient against a batch-of-one backward, the score formula on a case
// computed by hand, AdamW and the learning-rate schedule, weighted averaging, and the
// pipeline's refusal of bad input before writing anything.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "io/error.h"
#include "lib/comm.h"
#include "lib/model.h"
#include "lib/pipeline.h"
#include "lib/score.h"
#include "lib/train.h"
#include "synthetic.h"
#include "test_models.h"

namespace fs = std::filesystem;
using namespace clues;

namespace {

ModelConfig tiny(const std::string& finetune) {
  return clues::testing::test_model_config(finetune, 8, 12, 2, {"q", "v", "down"});
}

std::vector<Encoded> samples() {
  std::vector<Encoded> out;
  out.push_back(encode_sample({"Reverse.", "abc", "cba", ""}, 64));
  out.push_back(encode_sample({"Reverse the letters.", "house", "esuoh", ""}, 64));
  out.push_back(encode_sample({"Hi", "", "yo", ""}, 64));
  return out;
}

void perturb_lora(Decoder& m) { clues::testing::perturb(m, false); }

}  // namespace

class FiniteDifferences : public ::testing::TestWithParam<std::string> {};

TEST_P(FiniteDifferences, GradientsMatch) {
  torch::manual_seed(1);
  Decoder model = make_model(tiny(GetParam()), 3);
  model->to(torch::kFloat64);
  perturb_lora(model);
  auto data = samples();
  std::vector<const Encoded*> ptrs{&data[0], &data[1], &data[2]};
  Batch b = make_batch(ptrs);
  auto loss_of = [&] { return per_sample_loss(model, b).sum(); };
  for (auto& p : model->trainable_tensors()) p.mutable_grad() = torch::Tensor();
  loss_of().backward();
  int checked = 0;
  for (const auto& [name, p] : model->trainable()) {
    auto flat = p.detach().view(-1);
    auto grad = p.grad().view(-1);
    for (int64_t k : {int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const double h = 1e-6;
      const double orig = flat[k].item<double>();
      double up, down;
      {
        torch::NoGradGuard ng;
        flat[k] = orig + h;
        up = loss_of().item<double>();
        flat[k] = orig - h;
        down = loss_of().item<double>();
        flat[k] = orig;
      }
      const double fd = (up - down) / (2 * h);
      const double ad = grad[k].item<double>();
      EXPECT_NEAR(ad, fd, 1e-6 + 1e-5 * std::abs(fd)) << name << "[" << k << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, GetParam() == "full" ? 3 * 20 : 3 * 12);
}

INSTANTIATE_TEST_SUITE_P(Model, FiniteDifferences, ::testing::Values("lora", "full"));

TEST(PerSampleGrad, EqualsBatchOfOneInsidePaddedBatch) {
  Decoder model = make_model(tiny("lora"), 5);
  perturb_lora(model);
  auto data = samples();
  std::vector<const Encoded*> ptrs{&data[0], &data[1], &data[2]};
  const auto params = model->trainable_tensors();
  auto sum = torch::zeros({model->trainable_numel()});
  for (size_t i = 0; i < data.size(); ++i) {
    const auto one = sample_grad(model, data[i]);
    ASSERT_TRUE(torch::isfinite(one).all().item<bool>());
    EXPECT_GT(one.abs().sum().item<double>(), 0.0);
    // gradient of loss_i taken from a padded batch of all three samples
    for (const auto& p : params) p.mutable_grad() = torch::Tensor();
    per_sample_loss(model, make_batch(ptrs))[static_cast<int64_t>(i)].backward();
    const auto in_batch = flatten_grads(params);
    EXPECT_TRUE(torch::allclose(one, in_batch, 1e-4, 1e-6)) << "sample " << i << " max diff "
                                                             << (one - in_batch).abs().max().item<double>();
    sum += one;
  }
  EXPECT_TRUE(torch::allclose(grad_sum(model, ptrs), sum, 1e-4, 1e-6));
}

TEST(Score, AdamPreconditionerByHand) {
  Preconditioner pre{torch::tensor({0.1f, -0.2f}), torch::tensor({0.01f, 0.04f}), 0.9, 0.999, 1e-8};
  auto gamma = pre.apply(torch::tensor({1.0f, 2.0f}));
  // m' = (0.19, 0.02), v' = (0.01099, 0.04396), Γ = m'/sqrt(v'+eps)
  EXPECT_NEAR(gamma[0].item<double>(), 1.8124021018269267, 1e-5);
  EXPECT_NEAR(gamma[1].item<double>(), 0.09538961685543361, 1e-5);
  EXPECT_NEAR(torch::dot(gamma, torch::tensor({0.5f, -1.0f})).item<double>(), 0.8108114340580298, 1e-5);
  Preconditioner sgd;
  EXPECT_TRUE(torch::equal(sgd.apply(torch::tensor({1.0f, 2.0f})), torch::tensor({1.0f, 2.0f})));
}

TEST(Score, LoopEngineIsDotOfPreconditionedGrad) {
  Decoder model = make_model(tiny("lora"), 7);
  perturb_lora(model);
  auto data = samples();
  const int64_t P = model->trainable_numel();
  auto target = torch::randn({P});
  Preconditioner pre{torch::randn({P}) * 1e-3, torch::rand({P}) * 1e-4, 0.9, 0.999, 1e-8};
  auto s = score_loop(model, data, target, pre);
  ASSERT_EQ(s.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const auto g = sample_grad(model, data[i]);
    const auto m2 = pre.m * 0.9 + g * 0.1;
    const auto v2 = pre.v * 0.999 + g * g * 0.001;
    const double expect = torch::dot((m2 / torch::sqrt(v2 + 1e-8)).to(torch::kFloat64), target.to(torch::kFloat64)).item<double>();
    EXPECT_NEAR(s[i], expect, 1e-6 * std::max(1.0, std::abs(expect)));
  }
}

TEST(Score, MeanOverCheckpointsWeightedByLearningRate) {
  // two checkpoints, lr 0.1 and 0.3: score = (0.1 * d1 + 0.3 * d2) / 2
  std::vector<double> acc(2, 0.0);
  accumulate_scores(acc, {2.0, -1.0}, 0.1, 2);
  accumulate_scores(acc, {4.0, 1.0}, 0.3, 2);
  EXPECT_NEAR(acc[0], (0.2 + 1.2) / 2, 1e-15);
  EXPECT_NEAR(acc[1], (-0.1 + 0.3) / 2, 1e-15);
}

TEST(Train, AdamWStepByHand) {
  auto p = torch::tensor({1.0f});
  p.mutable_grad() = torch::tensor({0.5f});
  TrainConfig tc;
  tc.weight_decay = 0.1;
  AdamState st = AdamState::zeros_like({p});
  adamw_step({p}, st, tc, 0.1);
  // decay: 1 * (1 - 0.01) = 0.99; m̂ = 0.5, v̂ = 0.25, step = 0.1 * 0.5 / 0.5 = 0.1
  EXPECT_NEAR(p.item<double>(), 0.89, 1e-6);
  EXPECT_NEAR(st.m[0].item<double>(), 0.05, 1e-7);
  EXPECT_NEAR(st.v[0].item<double>(), 0.00025, 1e-9);
  EXPECT_EQ(st.step, 1);
}

TEST(Train, LearningRateSchedule) {
  TrainConfig tc;
  tc.rounds = 2;
  tc.local_steps = 5;
  tc.lr = 1.0;
  tc.warmup_frac = 0.2;  // 2 of 10 steps
  tc.min_lr_frac = 0.2;
  EXPECT_DOUBLE_EQ(lr_at(tc, 0, 10), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(tc, 1, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(tc, 2, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(tc, 6, 10), 1.0 - 0.5 * 0.8);
  EXPECT_DOUBLE_EQ(round_mean_lr(tc, 0), (0.5 + 1.0 + 1.0 + 0.9 + 0.8) / 5);
}

TEST(Train, RoundOrderIsAPureFunctionAndCoversEpochs) {
  TrainConfig tc;
  tc.local_steps = 3;
  tc.batch_size = 4;
  auto a = round_order(5, tc, 42, 1, 0);
  EXPECT_EQ(a, round_order(5, tc, 42, 1, 0));
  EXPECT_NE(a, round_order(5, tc, 42, 2, 0));
  EXPECT_NE(a, round_order(5, tc, 42, 1, 1));
  ASSERT_EQ(a.size(), 12u);
  std::vector<int64_t> first(a.begin(), a.begin() + 5);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<int64_t>{0, 1, 2, 3, 4}));  // each epoch is a permutation
}

TEST(Train, FedAvgWeightsBySampleCount) {
  const std::vector<torch::Tensor> xs{torch::tensor({1.0f, 2.0f}), torch::tensor({3.0f, 4.0f}), torch::tensor({0.0f, 8.0f})};
  auto avg = federated_average(Comm::serial(), {10, 30, 0}, [](int64_t) { return 0; },
                               [&](int64_t j) { return xs[static_cast<size_t>(j)]; }, 2);
  EXPECT_TRUE(torch::allclose(avg, torch::tensor({2.5f, 3.5f})));  // (10·x0 + 30·x1 + 0·x2) / 40
  EXPECT_THROW(federated_average(Comm::serial(), {0}, [](int64_t) { return 0; },
                                 [&](int64_t) { return xs[0]; }, 2), InputError);
}

TEST(Train, TrainingLowersTheLoss) {
  ModelConfig mc = tiny("lora");
  mc.d_model = 32;
  mc.hidden = 48;
  Decoder model = make_model(mc, 11);
  auto data = samples();
  TrainConfig tc;
  tc.rounds = 1;
  tc.local_steps = 40;
  tc.batch_size = 3;
  tc.lr = 1e-2;
  AdamState st = AdamState::zeros_like(model->trainable_tensors());
  std::vector<const Encoded*> ptrs{&data[0], &data[1], &data[2]};
  const double before = per_sample_loss(model, make_batch(ptrs)).mean().item<double>();
  train_round(model, data, st, tc, 0, 0, 0);
  const double after = per_sample_loss(model, make_batch(ptrs)).mean().item<double>();
  EXPECT_LT(after, before * 0.9);
  EXPECT_EQ(st.step, 40);
}

TEST(Pipeline, BadInputFailsBeforeWritingAnything) {
  const fs::path dir = fs::temp_directory_path() / ("clues_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  clues::testing::write_reverse_set((dir / "good.jsonl").string(), "", 10, 0, 1);
  {
    std::ofstream bad(dir / "bad.jsonl");
    bad << R"({"instruction":"a","output":"b"})" "\n" R"({"instruction":"a","outptu":"b"})" "\n";
  }
  Config cfg;
  cfg.silos = {{"good", (dir / "good.jsonl").string()}, {"bad", (dir / "bad.jsonl").string()}};
  cfg.validation = (dir / "good.jsonl").string();
  cfg.anchor = (dir / "good.jsonl").string();
  cfg.out = (dir / "out").string();
  try {
    run_pipeline(cfg, Comm::serial());
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing field \"output\""), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  fs::remove_all(dir);
}
