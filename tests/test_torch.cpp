// Unit tests of the LibTorch parts: model gradients against finite differences, the
// per-sample gradient against a batch-of-one backward, the score formula on a case
// computed by hand, AdamW and the learning-rate schedule, weighted averaging, and the
// pipeline's refusal of bad input before writing anything.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <sys/stat.h>

#include "io/error.h"
#include "lib/dist/comm.h"
#include "lib/method/datainf.h"
#include "lib/model/merge.h"
#include "lib/method/evaluate.h"
#include "lib/method/engines.h"
#include "lib/model/model.h"
#include "io/h5.h"
#include "lib/run/phases.h"
#include "lib/run/pipeline.h"
#include "lib/method/pretrain.h"
#include "lib/method/score.h"
#include "lib/method/select.h"
#include "lib/method/train.h"
#include "synthetic.h"
#include "test_models.h"
#include "torch_fixtures.h"

namespace fs = std::filesystem;
using namespace clues;
using namespace clues::testing;

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

// train.local_epochs: steps per round follow the silo's own size (ceil(E·n / batch)),
// and a round takes exactly that many optimizer steps over whole passes of its data.
TEST(Train, LocalEpochsSetStepsPerSilo) {
  TrainConfig tc;
  tc.local_steps = 3;
  tc.batch_size = 4;
  EXPECT_EQ(silo_steps(tc, 100), 3);  // 0: train.local_steps, whatever the size
  tc.local_epochs = 1;
  EXPECT_EQ(silo_steps(tc, 10), 3);   // ceil(10 / 4)
  EXPECT_EQ(silo_steps(tc, 12), 3);
  EXPECT_EQ(silo_steps(tc, 13), 4);
  EXPECT_EQ(silo_steps(tc, 1), 1);
  tc.local_epochs = 0.1;
  EXPECT_EQ(silo_steps(tc, 10), 1);   // at least one
  tc.local_epochs = 2;
  const auto order = round_order(10, tc, 42, 0, 0);
  ASSERT_EQ(order.size(), 20u);       // 5 steps of 4: two whole passes
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int64_t> p(order.begin() + pass * 10, order.begin() + (pass + 1) * 10);
    std::sort(p.begin(), p.end());
    for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(p[static_cast<size_t>(i)], i);
  }
  const auto data = samples();
  tc.batch_size = 2;
  Decoder m = make_model(tiny("lora"), 3);
  AdamState st = AdamState::zeros_like(m->trainable_tensors());
  train_round(m, data, st, tc, 7, 1, 0);
  EXPECT_EQ(st.step, silo_steps(tc, static_cast<int64_t>(data.size())));
  EXPECT_EQ(st.step, (2 * static_cast<int64_t>(data.size()) + 1) / 2);
}

TEST(Train, FedAvgWeightsBySampleCount) {
  const std::vector<torch::Tensor> xs{torch::tensor({1.0f, 2.0f}), torch::tensor({3.0f, 4.0f}), torch::tensor({0.0f, 8.0f})};
  auto avg = federated_average(Comm::serial(), {10, 30, 0}, [](int64_t) { return 0; }, [&](int64_t j) {
    EXPECT_NE(j, 2) << "an item of weight 0 was asked for";
    return xs[static_cast<size_t>(j)];
  }, 2);
  EXPECT_TRUE(torch::allclose(avg, torch::tensor({2.5f, 3.5f})));  // (10·x0 + 30·x1 + 0·x2) / 40
  EXPECT_THROW(federated_average(Comm::serial(), {0}, [](int64_t) { return 0; },
                                 [&](int64_t) { return xs[0]; }, 2), InputError);
}

// train.sample_silos: all silos by default; a count or a share drawn per round from the
// seed alone (the same on every rank), the others at 0; at least one silo.
TEST(Train, RoundCountsSampleSilosPerRound) {
  const std::vector<double> counts = {5, 6, 7, 8, 9, 10, 11, 12};
  TrainConfig tc;
  EXPECT_EQ(round_counts(counts, tc, 3, 0), counts);
  auto drawn = [&](double sample, uint64_t seed, int64_t round) {
    tc.sample_silos = sample;
    const auto rc = round_counts(counts, tc, seed, round);
    int n = 0;
    for (size_t j = 0; j < rc.size(); ++j) {
      EXPECT_TRUE(rc[j] == 0 || rc[j] == counts[j]);
      n += rc[j] > 0;
    }
    return std::make_pair(n, rc);
  };
  EXPECT_EQ(drawn(3, 1, 0).first, 3);
  EXPECT_EQ(drawn(0.5, 1, 0).first, 4);
  EXPECT_EQ(drawn(0.01, 1, 0).first, 1);   // at least one
  EXPECT_EQ(drawn(20, 1, 0).first, 8);     // at most every silo
  EXPECT_EQ(drawn(3, 1, 2).second, drawn(3, 1, 2).second);  // a pure function of (seed, round)
  bool differ = false;
  for (int64_t r = 1; r < 6; ++r) differ = differ || drawn(3, 1, r).second != drawn(3, 1, 0).second;
  EXPECT_TRUE(differ) << "every round drew the same silos";
}

// DataInf's streamed three passes against its formula written out over loop-engine
// gradients (lib/method/datainf.h), on batches that split the samples unevenly.
TEST(DataInf, MatchesTheDirectFormula) {
  Decoder model = make_model(tiny("lora"), 11);
  perturb_lora(model);
  std::vector<Encoded> data = samples();
  for (const auto& e : samples()) data.push_back(e);
  data.push_back(encode_sample({"Count.", "aaaa", "4", ""}, 64));
  const int64_t P = model->trainable_numel();
  torch::manual_seed(3);
  const auto v = torch::randn({P}) * 0.1;
  const auto got = datainf_influence(model, data, v, 3, 64);
  const auto n = static_cast<int64_t>(data.size());
  std::vector<torch::Tensor> g;
  for (const auto& e : data) g.push_back(sample_grad(model, e).to(torch::kFloat64));
  const auto v64 = v.to(torch::kFloat64);
  std::vector<double> expect(static_cast<size_t>(n), 0.0);
  int64_t off = 0;
  for (const auto& [name, t] : model->trainable()) {
    const int64_t k = t.numel();
    double lambda = 0;
    for (const auto& gi : g) lambda += (gi.narrow(0, off, k) * gi.narrow(0, off, k)).mean().item<double>();
    lambda = lambda / static_cast<double>(n) / 10.0;
    const auto vl = v64.narrow(0, off, k);
    auto hvp = torch::zeros({k}, torch::kFloat64);
    for (const auto& gi : g) {
      const auto gl = gi.narrow(0, off, k);
      const double c = torch::dot(vl, gl).item<double>() / (lambda + torch::dot(gl, gl).item<double>());
      hvp += (vl - c * gl) / (static_cast<double>(n) * lambda);
    }
    for (int64_t i = 0; i < n; ++i) expect[static_cast<size_t>(i)] -= torch::dot(hvp, g[static_cast<size_t>(i)].narrow(0, off, k)).item<double>();
    off += k;
  }
  ASSERT_EQ(got.size(), expect.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expect[i], 1e-5 * std::max(1.0, std::abs(expect[i]))) << i;
}

TEST(Merge, TiesByHand) {
  // Trim to the 2 largest magnitudes, elect signs from the sum, average the agreeing entries.
  const auto t1 = torch::tensor({3.0, -1.0, 0.5, -2.0}), t2 = torch::tensor({-1.5, -2.0, 1.0, 4.0});
  // Kept: t1 3,_,_,-2 and t2 _,-2,_,4; signs of the sum 3,-2,0,2: +,-,+,+; each entry has one agreeing.
  EXPECT_TRUE(torch::allclose(merge_ties({t1, t2}, {1.0, 1.0}, 0.5), torch::tensor({3.0, -2.0, 0.0, 4.0})));
  // Kept 3 of 4: t1 3,-1,_,-2 and t2 -1.5,-2,_,4; sum 1.5,-3,0,2: +,-,+,+. Weighted 2·t1, 1·t2:
  // e0 t1 alone (6), e1 both (-2 and -2, mean -2), e2 none (0), e3 t2 alone (4).
  EXPECT_TRUE(torch::allclose(merge_ties({t1, t2}, {2.0, 1.0}, 0.75), torch::tensor({6.0, -2.0, 0.0, 4.0})));
  EXPECT_TRUE(torch::allclose(merge_linear({t1, t2}, {0.5, 2.0}), t1 * 0.5 + t2 * 2.0));
  // Weights: linear sums to 1, ties averages to 1; silos without samples take no part.
  MergeConfig mc;
  mc.method = MergeMethod::kLinear;
  mc.weights = MergeWeights::kSamples;
  EXPECT_EQ(merge_weights(mc, {10, 0, 30}), (std::vector<double>{0.25, 0.0, 0.75}));
  mc.method = MergeMethod::kTies;
  mc.weights = MergeWeights::kEqual;
  mc.scale = 0.5;
  EXPECT_EQ(merge_weights(mc, {10, 0, 30}), (std::vector<double>{0.5, 0.0, 0.5}));
}

// Merging one LoRA fine-tuning with weight 1 (linear) gives back the same model: the merged
// adapter (scaling 1) is stored at the model's own scaling. Full weights: θ0 + Σ w_j (θ_j − θ0).
TEST(Merge, MergedWeightsLoadIntoTheSameModel) {
  Decoder model = make_model(tiny("lora"), 5);
  perturb_lora(model);
  const auto params = model->trainable_tensors();
  const auto theta = flatten(params).clone();
  const auto data = samples();
  const auto batch = make_batch({&data[0]});
  const auto before = model->forward(batch.ids, batch.positions, batch.mask);
  MergeConfig mc;
  mc.method = MergeMethod::kLinear;
  const double scaling = model->config().lora_alpha / static_cast<double>(model->config().lora_rank);
  const auto merged = merge_trained(mc, model->trainable(), {theta}, torch::zeros_like(theta), {1.0}, scaling);
  unflatten_into(merged, params);
  EXPECT_TRUE(torch::allclose(model->forward(batch.ids, batch.positions, batch.mask), before, 1e-5, 1e-4));  // float rounding of sqrt(s)
  EXPECT_FALSE(torch::allclose(merged, theta));  // A and B themselves did change

  Decoder full = make_model(tiny("full"), 5);
  const auto t0 = flatten(full->trainable_tensors()).clone();
  const auto t1 = t0 + 0.1, t2 = t0 - 0.3;
  mc.method = MergeMethod::kTaskArithmetic;
  EXPECT_TRUE(torch::allclose(merge_trained(mc, full->trainable(), {t1, t2}, t0, {0.25, 0.75}, 1.0), t0 - 0.2, 1e-5, 1e-6));
}

TEST(Train, TrainingLowersTheLoss) {
  Decoder model = learner("lora", 11);
  auto data = samples();
  std::vector<const Encoded*> ptrs{&data[0], &data[1], &data[2]};
  const double before = per_sample_loss(model, make_batch(ptrs)).mean().item<double>();
  const AdamState st = train_on(model, data, 40, 3);
  const double after = per_sample_loss(model, make_batch(ptrs)).mean().item<double>();
  EXPECT_LT(after, before * 0.9);
  EXPECT_EQ(st.step, 40);
}

// LoRA dropout: training draws masks from (seed, silo, round) alone, so a round repeats
// exactly; it changes what is learned; the model is back in eval mode after training, and
// per-sample gradients refuse a model left in training mode.
TEST(Train, LoraDropoutIsSeededPerRoundAndOffOutsideTraining) {
  ModelConfig mc = tiny("lora");
  mc.lora_dropout = 0.3;
  const auto data = samples();
  TrainConfig tc;
  tc.local_steps = 3;
  tc.batch_size = 2;
  tc.lr = 1e-2;
  auto run = [&](const ModelConfig& c, uint64_t seed) {
    Decoder m = make_model(c, 3);
    perturb_lora(m);
    AdamState st = AdamState::zeros_like(m->trainable_tensors());
    torch::manual_seed(12345 + seed);  // the global generator's state before the round must not matter
    train_round(m, data, st, tc, 7, 1, 0);
    EXPECT_FALSE(m->is_training());
    return flatten(m->trainable_tensors());
  };
  const auto a = run(mc, 0), b = run(mc, 1);
  EXPECT_TRUE(torch::equal(a, b));
  ModelConfig none = mc;
  none.lora_dropout = 0.0;
  EXPECT_FALSE(torch::allclose(a, run(none, 0)));
  Decoder m = make_model(mc, 3);
  m->train();
  const Encoded& e = data[0];
  EXPECT_THROW(batched_grads(m, {&e}, 64), c10::Error);
}

TEST(Train, SiloStateFileRoundTripsExactlyAndRefusesAnotherModel) {
  Decoder model = learner("lora", 11);
  auto data = samples();
  const AdamState st = train_on(model, data, 5, 3);
  const auto params = model->trainable_tensors();
  const fs::path dir = fs::temp_directory_path() / ("clues_state_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "s.bin").string();
  const auto theta = flatten(params);
  save_silo_state(path, theta, st);
  const SiloState back = load_silo_state(path, params);
  EXPECT_TRUE(torch::equal(back.theta, theta));
  EXPECT_TRUE(torch::equal(flatten(back.adam.m), flatten(st.m)));
  EXPECT_TRUE(torch::equal(flatten(back.adam.v), flatten(st.v)));
  EXPECT_EQ(back.adam.step, 5);
  ASSERT_EQ(back.adam.m.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(back.adam.m[i].sizes(), params[i].sizes());
  // A model of another size, and a missing file, are refused with a message.
  Decoder other = learner("full", 11);
  EXPECT_THROW(load_silo_state(path, other->trainable_tensors()), IoError);
  EXPECT_THROW(load_silo_state((dir / "none.bin").string(), params), IoError);
  fs::remove_all(dir);
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

// ---- each phase skips what it finds done

namespace {
// A file's identity: a rewrite (temporary + rename) changes the inode, an append the size.
struct FileId {
  ino_t inode = 0;
  off_t size = -1;
  bool operator==(const FileId& o) const { return inode == o.inode && size == o.size; }
};
FileId file_id(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return {st.st_ino, st.st_size};
}
}  // namespace

TEST(Phases, ResumeSkipsWhatEachPhaseFindsDone) {
  const fs::path dir = fs::temp_directory_path() / ("clues_phases_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string d = dir.string();
  clues::testing::write_reverse_set(d + "/a.jsonl", d + "/a.labels", 12, 3, 1);
  clues::testing::write_reverse_set(d + "/b.jsonl", d + "/b.labels", 10, 5, 2);
  clues::testing::write_reverse_set(d + "/v.jsonl", "", 6, 0, 3);
  clues::testing::write_reverse_set(d + "/t.jsonl", "", 5, 0, 4);
  Config cfg;
  cfg.silos = {{"a", d + "/a.jsonl"}, {"b", d + "/b.jsonl"}};
  cfg.labels = {{"a", d + "/a.labels"}, {"b", d + "/b.labels"}};
  cfg.tests = {{"a", d + "/t.jsonl"}, {"b", d + "/t.jsonl"}};
  cfg.validation = cfg.anchor = d + "/v.jsonl";
  cfg.out = d + "/out";
  cfg.progress_s = 1e9;
  cfg.model = tiny("lora");
  cfg.train.rounds = 2;
  cfg.train.local_steps = 2;
  cfg.train.batch_size = 3;
  cfg.score.batch_size = 4;
  cfg.compare.rows = {"clues", "full"};
  run_pipeline(cfg, Comm::serial());
  const RunLayout files(cfg.out);
  const std::vector<std::string> kept = {files.base(), files.round(0), files.round(1), files.silo_moments(1, "b"),
                                         files.dots_journal(0, "silo_a"), files.dots_journal(1, "anchor_for_b"),
                                         files.compare_row("clues"), files.compare_row("full")};
  std::vector<FileId> before;
  for (const auto& f : kept) {
    before.push_back(file_id(f));
    ASSERT_GE(before.back().size, 0) << f << " was not written";
  }
  const auto scores = H5File::open_read(files.scores()).read_f64("/silos/b/score");
  fs::remove(files.report());

  cfg.resume = true;
  auto ctx = make_run_context(cfg, Comm::serial());
  Trainable m = base_model(*ctx);
  EXPECT_EQ(file_id(files.base()), before[0]) << "base.h5 was written again";
  const auto collab = make_collaboration(collab_env(*ctx), m);
  const WarmUp warm = warm_up(*ctx, *collab);
  for (size_t i = 1; i <= 3; ++i) EXPECT_EQ(file_id(kept[i]), before[i]) << kept[i] << ": warm-up redid a finished round";
  collab->load_final(1);  // fedavg: the global weights restored from the last round
  EXPECT_TRUE(torch::equal(flatten(m.params), read_flat(H5File::open_read(files.round(1)), "/trainable", m.named)));
  const Scores sc = score_checkpoints(*ctx, m, *collab);
  for (size_t i = 4; i <= 5; ++i) EXPECT_EQ(file_id(kept[i]), before[i]) << kept[i] << ": scoring redid a finished set";
  ASSERT_EQ(sc.mine.size(), 2u);
  EXPECT_EQ(sc.mine[1].score, scores);  // from the journals, bit for bit
  const Selection sel = select_samples(*ctx, m, *collab, sc);
  const Comparison cmp = compare_selections(*ctx, m, *collab, sel);
  for (size_t i = 6; i <= 7; ++i) EXPECT_EQ(file_id(kept[i]), before[i]) << kept[i] << ": a finished row was redone";
  ASSERT_EQ(cmp.rows.size(), 2u);
  EXPECT_EQ(cmp.rows[1].name, "full");
  write_outputs(*ctx, m, sc, sel, cmp, warm);
  EXPECT_TRUE(fs::exists(files.report()));
  fs::remove_all(dir);
}
