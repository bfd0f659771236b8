// LibTorch unit tests of evaluation (held-out loss, greedy exact match) and of the
// pretrained base (corpus formats, the cache). Shares test_torch's fixtures.
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


// ---- evaluation and the pretrained base

namespace {
// Greedy continuation of one sample's prompt, one unpadded sequence at a time (reference).
std::vector<int64_t> greedy_reference(Decoder& m, const Encoded& e, int64_t n) {
  torch::NoGradGuard ng;
  std::vector<int64_t> seq(e.ids.begin(), e.ids.begin() + e.response_start);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t L = static_cast<int64_t>(seq.size());
    auto ids = torch::tensor(seq, torch::kLong).unsqueeze(0);
    auto pos = torch::arange(L, torch::kLong).unsqueeze(0);
    auto mask = torch::full({L, L}, -std::numeric_limits<float>::infinity()).triu(1);
    seq.push_back(m->forward(ids, pos, mask)[0][L - 1].argmax().item<int64_t>());
    if (seq.back() == kEos) break;
  }
  return seq;
}
}  // namespace

TEST(Evaluate, AnswerAloneKeepsTheResponseTokens) {
  const Encoded e = samples()[1];
  const Encoded a = answer_alone(e, kBos);
  EXPECT_EQ(a.response_start, 1);
  EXPECT_EQ(a.ids.front(), kBos);
  EXPECT_EQ(std::vector<int64_t>(a.ids.begin() + 1, a.ids.end()),
            std::vector<int64_t>(e.ids.begin() + e.response_start, e.ids.end()));
}

TEST(Evaluate, GreedyExactMatchAgainstItsOwnDecodingAndOneChangedToken) {
  Decoder m = make_model(tiny("lora"), 5);
  perturb_lora(m);
  // References: the model's own greedy answers (forced to end with EOS), prompts of mixed
  // lengths so the batched decoder pads; then the same with one answer token changed.
  std::vector<Encoded> own, changed;
  for (const auto& e : samples()) {
    auto seq = greedy_reference(m, e, 4);
    if (seq.back() != kEos) seq.push_back(kEos);
    Encoded r = e;
    r.ids = seq;
    own.push_back(r);
    Encoded c = r;
    c.ids[static_cast<size_t>(c.response_start)] = (c.ids[static_cast<size_t>(c.response_start)] + 1) % 256;
    changed.push_back(c);
  }
  // A sample whose greedy decoding did not stop within 4 tokens matches only if it emitted
  // EOS there; count what the reference says.
  std::vector<uint8_t> expect;
  for (size_t i = 0; i < own.size(); ++i) {
    const auto ref = greedy_reference(m, own[i], static_cast<int64_t>(own[i].ids.size()) - own[i].response_start);
    expect.push_back(ref == own[i].ids);
  }
  EXPECT_EQ(greedy_exact_match(m, own, 2), expect);
  EXPECT_EQ(greedy_exact_match(m, changed, 2), std::vector<uint8_t>(changed.size(), 0));
  const TestMetrics t = evaluate(m, own, 2);
  EXPECT_NEAR(t.perplexity, std::exp(t.loss), 1e-9);
  EXPECT_NEAR(t.loss, mean(sample_losses(m, own, 3)), 1e-6);
}

TEST(Evaluate, GreedyMatchesWhenTheModelHasLearnedTheAnswer) {
  Decoder m = learner("full", 2);
  std::vector<Encoded> data = {samples()[0], samples()[2]};
  train_on(m, data, 150, 2);
  EXPECT_EQ(greedy_exact_match(m, data, 2), (std::vector<uint8_t>{1, 1}));
}

TEST(Pretrain, CorpusFormatsAndCacheKey) {
  const fs::path dir = fs::temp_directory_path() / ("clues_pre_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "a.txt") << "hello world\n\nsecond line\n";
  }
  clues::testing::write_reverse_set((dir / "b.jsonl").string(), "", 3, 0, 1);
  const auto c = read_corpus({(dir / "a.txt").string(), (dir / "b.jsonl").string()}, 64);
  ASSERT_EQ(c.size(), 5u);  // 2 text lines (the empty one skipped) + 3 JSONL samples
  EXPECT_EQ(c[0].ids, (std::vector<int64_t>{kBos, 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', kEos}));
  EXPECT_EQ(c[0].response_start, 1);
  EXPECT_GT(c[2].response_start, 1);
  Config cfg;
  cfg.pretrain.corpus = {(dir / "a.txt").string()};
  cfg.pretrain.cache = (dir / "cache").string();
  const std::string k1 = pretrain_key(cfg);
  EXPECT_EQ(k1.size(), 16u);
  EXPECT_EQ(k1, pretrain_key(cfg));
  cfg.pretrain.steps += 1;
  EXPECT_NE(k1, pretrain_key(cfg));
  cfg.pretrain.steps -= 1;
  // pretrain.seed: -1 means the run's seed (same base, same key); another seed, another base.
  cfg.pretrain.seed = static_cast<int64_t>(cfg.seed);
  EXPECT_EQ(k1, pretrain_key(cfg));
  cfg.pretrain.seed = static_cast<int64_t>(cfg.seed) + 1;
  EXPECT_NE(k1, pretrain_key(cfg));
  cfg.seed += 1;  // the run's seed no longer matters once pretrain.seed is set
  const std::string k2 = pretrain_key(cfg);
  cfg.seed += 1;
  EXPECT_EQ(k2, pretrain_key(cfg));
  cfg.seed -= 2;
  cfg.pretrain.seed = -1;
  std::ofstream(dir / "a.txt", std::ios::app) << "third\n";
  EXPECT_NE(k1, pretrain_key(cfg));  // the corpus content is part of the key
  fs::remove_all(dir);
}

TEST(Pretrain, TrainsOnceThenReusesTheCachedBase) {
  const fs::path dir = fs::temp_directory_path() / ("clues_prec_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  clues::testing::write_reverse_set((dir / "pub.jsonl").string(), "", 12, 0, 3);
  Config cfg;
  cfg.model = tiny("lora");
  cfg.pretrain.corpus = {(dir / "pub.jsonl").string()};
  cfg.pretrain.cache = (dir / "cache").string();
  cfg.pretrain.steps = 6;
  cfg.pretrain.batch_size = 10;  // two micro-batches per step
  cfg.progress_s = 1e9;
  const auto corpus = read_corpus(cfg.pretrain.corpus, cfg.model.max_seq_len);
  std::vector<const Encoded*> ptrs;
  for (const auto& e : corpus) ptrs.push_back(&e);

  Decoder fresh = make_model(cfg.model, cfg.seed);
  const double before = per_sample_loss(fresh, make_batch(ptrs)).mean().item<double>();
  Decoder a = make_model(cfg.model, cfg.seed);
  pretrain_base(cfg, Comm::serial(), a);
  ASSERT_TRUE(fs::exists(pretrain_file(cfg)));
  const auto stamp = fs::last_write_time(pretrain_file(cfg));
  const double after = per_sample_loss(a, make_batch(ptrs)).mean().item<double>();
  EXPECT_LT(after, before);
  // LoRA adapters keep their initialisation; base weights moved.
  EXPECT_TRUE(torch::equal(a->blocks[0]->q->lora_A, fresh->blocks[0]->q->lora_A));
  EXPECT_FALSE(torch::equal(a->blocks[0]->q->weight, fresh->blocks[0]->q->weight));

  Decoder b = make_model(cfg.model, cfg.seed);
  pretrain_base(cfg, Comm::serial(), b);  // loads the cache
  EXPECT_EQ(fs::last_write_time(pretrain_file(cfg)), stamp);
  for (const auto& p : a->named_parameters(true))
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters(true)[p.key()])) << p.key();
  fs::remove_all(dir);
}
