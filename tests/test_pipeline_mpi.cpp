// End-to-end tests of `run_pipeline` under mpiexec with 2 ranks: every output of the run
// is checked, and the same scores come out of 1 rank hosting both silos as of 2 ranks.
// Collectives first, then checks on rank 0; failures are combined over ranks in main.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "lib/dist/comm.h"
#include "lib/model/checkpoint.h"
#include "lib/dist/collectives.h"
#include "lib/model/model.h"
#include "lib/run/pipeline.h"
#include "lib/method/pretrain.h"
#include "lib/method/select.h"
#include "lib/method/train.h"
#include "synthetic.h"

namespace fs = std::filesystem;
using namespace clues;

namespace {

// The selection select.rank=blend (or clues) must make, from the primitives: the paper's
// samples at or above tau, or as many of the highest blend ranking.
std::vector<uint8_t> expected_selection(const std::vector<double>& score, const std::vector<double>& loss, double tau,
                                        const SelectConfig& sc) {
  const auto by_score = select_by_score(score, tau, sc);
  if (sc.rank == "clues") return by_score;
  return select_blend(score, loss, std::accumulate(by_score.begin(), by_score.end(), int64_t{0}), sc.loss_weight);
}

// Folder shared by all ranks (rank 0 picks the name and writes the data).
std::string shared_dir(const Comm& comm) {
  std::string dir;
  if (comm.is_root()) {
    dir = (fs::temp_directory_path() / ("clues_mpi_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    clues::testing::write_reverse_set(dir + "/alpha.jsonl", dir + "/alpha.labels", 24, 3, 1);
    clues::testing::write_reverse_set(dir + "/beta.jsonl", dir + "/beta.labels", 20, 10, 2);
    clues::testing::write_reverse_set(dir + "/validation.jsonl", "", 8, 0, 3);
    clues::testing::write_reverse_set(dir + "/anchor.jsonl", "", 8, 0, 4);
    clues::testing::write_reverse_set(dir + "/test_alpha.jsonl", "", 6, 0, 5);
  }
  comm.broadcast(dir);
  comm.barrier();
  return dir;
}

Config small_config(const std::string& dir, const std::string& out) {
  Config c;
  c.silos = {{"alpha", dir + "/alpha.jsonl"}, {"beta", dir + "/beta.jsonl"}};
  c.validation = dir + "/validation.jsonl";
  c.anchor = dir + "/anchor.jsonl";
  c.labels = {{"alpha", dir + "/alpha.labels"}, {"beta", dir + "/beta.labels"}};
  c.tests = {{"alpha", dir + "/test_alpha.jsonl"}};
  c.out = out;
  c.seed = 7;
  c.progress_s = 1e9;
  c.model.d_model = 32;
  c.model.heads = 2;
  c.model.layers = 1;
  c.model.hidden = 48;
  c.model.lora_rank = 4;
  c.train.rounds = 2;
  c.train.local_steps = 4;
  c.train.batch_size = 4;
  c.score.batch_size = 3;  // 8 validation samples -> 3 chunks, spread over both ranks
  return c;
}

bool all_finite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

TEST(PipelineMpi, WritesEveryOutputAndMatchesOneRankHostingBothSilos) {
  const Comm world = Comm::world();
  ASSERT_EQ(world.size(), 2) << "run this test with mpiexec -n 2";
  const std::string dir = shared_dir(world);
  const Config cfg = small_config(dir, dir + "/out2");
  const RunSummary two = run_pipeline(cfg, world);
  // The same job laid out as one rank hosting both silos.
  Config cfg1 = small_config(dir, dir + "/out1");
  RunSummary one;
  if (world.is_root()) one = run_pipeline(cfg1, Comm::serial());
  world.barrier();
  if (!world.is_root()) return;

  const std::string out = cfg.out;
  // --- report.json (last written; its presence means the run finished)
  const auto rep = nlohmann::json::parse(read_text(out + "/report.json"));
  ASSERT_TRUE(rep.contains("threshold"));
  ASSERT_TRUE(rep.contains("timings_s"));
  for (const char* phase : {"load", "warmup", "scoring", "selection", "output", "total"})
    EXPECT_TRUE(rep["timings_s"].contains(phase)) << phase;
  // Communication per phase: each warm-up round averages [theta | m | v] (3·P floats) to every
  // rank, so at least that many bytes moved; time in the calls within the phase's time.
  const double P = rep["trainable_params"].get<double>(), rounds = rep["checkpoints"].get<double>();
  EXPECT_GE(rep["communication_bytes"]["warmup"].get<double>(), rounds * 3 * P * 4);
  EXPECT_GT(rep["communication_s"]["warmup"].get<double>(), 0.0);
  EXPECT_LE(rep["communication_s"]["warmup"].get<double>(), rep["timings_s"]["warmup"].get<double>() + 1e-3);
  EXPECT_GT(rep["communication_bytes"]["scoring"].get<double>(), 0.0);
  // Peak resident memory of the ranks: a LibTorch process holds more than 50 MiB.
  EXPECT_GT(rep["peak_rss_mib"]["min"].get<double>(), 50.0);
  EXPECT_GE(rep["peak_rss_mib"]["max"].get<double>(), rep["peak_rss_mib"]["min"].get<double>());
  EXPECT_EQ(rep["ranks"], 2);
  EXPECT_EQ(rep["silos"]["alpha"]["samples"], 24);
  EXPECT_EQ(rep["silos"]["beta"]["samples"], 20);
  EXPECT_NE(rep["silos"]["alpha"]["host_rank"], rep["silos"]["beta"]["host_rank"]);
  EXPECT_TRUE(rep["silos"]["alpha"].contains("test_loss"));
  EXPECT_TRUE(rep["silos"]["beta"]["labels"].contains("auroc"));
  EXPECT_TRUE(rep.contains("pooled"));

  // --- scores.h5
  H5File f = H5File::open_read(out + "/scores.h5");
  const double tau = f.attr_f64("/", "threshold");
  EXPECT_DOUBLE_EQ(tau, rep["threshold"].get<double>());
  const auto anchor = f.read_f64("/anchor/score");
  ASSERT_EQ(anchor.size(), 16u);  // the 8 anchors scored like each of the 2 silos, pooled
  EXPECT_TRUE(all_finite(anchor));
  std::vector<double> sorted = anchor;  // default threshold: the 0.2-quantile of the pooled anchor scores
  std::sort(sorted.begin(), sorted.end());
  const double pos = 0.2 * 15;  // 16 scores: between the 4th and 5th smallest
  EXPECT_NEAR(tau, sorted[3] + (pos - 3) * (sorted[4] - sorted[3]), 1e-12);
  const auto lrs = f.read_f64("/checkpoints/lr");
  ASSERT_EQ(lrs.size(), 2u);
  EXPECT_GT(lrs[0], 0.0);
  EXPECT_NE(f.attr_str("/", "config").find("[train]"), std::string::npos);
  for (const auto& [name, n] : std::vector<std::pair<std::string, size_t>>{{"alpha", 24}, {"beta", 20}}) {
    const auto score = f.read_f64("/silos/" + name + "/score");
    const auto sel = f.read_u8("/silos/" + name + "/selected");
    ASSERT_EQ(score.size(), n);
    ASSERT_EQ(sel.size(), n);
    EXPECT_TRUE(all_finite(score));
    // The default rank=blend: as many as score >= tau, the highest blend of score and loss.
    const auto by_score = select_at_threshold(score, tau);
    EXPECT_EQ(std::accumulate(sel.begin(), sel.end(), 0), std::accumulate(by_score.begin(), by_score.end(), 0));
    EXPECT_EQ(sel, expected_selection(score, f.read_f64("/silos/" + name + "/warmup_loss"), tau, SelectConfig{}));
    // scores vary between samples (not a constant)
    EXPECT_GT(*std::max_element(score.begin(), score.end()) - *std::min_element(score.begin(), score.end()), 0.0);
    // --- selected/<name>.jsonl: exactly the kept input lines, byte for byte, in order
    const auto input = read_jsonl(dir + "/" + name + ".jsonl");
    std::string expect;
    int64_t kept = 0;
    for (size_t i = 0; i < n; ++i)
      if (sel[i]) {
        expect += input[i].raw + "\n";
        ++kept;
      }
    EXPECT_EQ(read_text(out + "/selected/" + name + ".jsonl"), expect);
    EXPECT_EQ(rep["silos"][name]["kept"], kept);
    // --- checkpoints: one per round, each silo's own moments
    for (int r = 0; r < 2; ++r) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "/checkpoints/round_%03d_silo_%s.h5", r, name.c_str());
      H5File m = H5File::open_read(out + buf);
      EXPECT_TRUE(m.exists("/m") && m.exists("/v"));
    }
  }
  for (int r = 0; r < 2; ++r) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "/checkpoints/round_%03d.h5", r);
    H5File c = H5File::open_read(out + buf);
    EXPECT_DOUBLE_EQ(c.attr_f64("/", "lr"), lrs[static_cast<size_t>(r)]);
    EXPECT_TRUE(c.exists("/trainable") && c.exists("/server/m") && c.exists("/server/v"));
  }
  // no temporary files left behind
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();

  // --- layout independence: 1 rank hosting 2 silos vs 2 ranks hosting 1 each.
  // Sums run in a fixed order (Comm::ordered_sum), so we expect equality up to 1e-9
  // relative; the tolerance leaves room for a BLAS that splits work by thread count.
  H5File g = H5File::open_read(cfg1.out + "/scores.h5");
  for (const std::string name : {"alpha", "beta"}) {
    const auto a = f.read_f64("/silos/" + name + "/score");
    const auto b = g.read_f64("/silos/" + name + "/score");
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-9 * std::max(1.0, std::abs(a[i]))) << name << i;
  }
  EXPECT_NEAR(g.attr_f64("/", "threshold"), tau, 1e-9 * std::max(1.0, std::abs(tau)));
  ASSERT_EQ(one.silos.size(), two.silos.size());
  for (size_t s = 0; s < one.silos.size(); ++s) EXPECT_EQ(one.silos[s].kept, two.silos[s].kept);
}

// The pipeline takes the engine from the configuration; its outputs do not change with it
// beyond float32 tolerance (2e-4 of the largest score magnitude).
TEST(PipelineMpi, EngineChoiceDoesNotChangeScores) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  if (!world.is_root()) return;
  auto scores_of = [&](const std::string& engine, const std::string& precondition) {
    Config c = small_config(dir, dir + "/engine_" + engine + "_" + precondition);
    c.score.engine = parse_choice<Engine>("score.engine", engine);
    c.score.precondition = parse_choice<Precondition>("score.precondition", precondition);
    run_pipeline(c, Comm::serial());
    H5File f = H5File::open_read(c.out + "/scores.h5");
    auto v = f.read_f64("/silos/alpha/score");
    auto b = f.read_f64("/silos/beta/score");
    auto a = f.read_f64("/anchor/score");
    v.insert(v.end(), b.begin(), b.end());
    v.insert(v.end(), a.begin(), a.end());
    return v;
  };
  auto expect_same = [](const std::vector<double>& a, const std::vector<double>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size());
    double scale = 0;
    for (double x : b) scale = std::max(scale, std::abs(x));
    ASSERT_GT(scale, 0.0);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 2e-4 * scale) << what << " " << i;
  };
  expect_same(scores_of("batched", "adam"), scores_of("loop", "adam"), "batched vs loop (adam)");
  expect_same(scores_of("ghost", "sgd"), scores_of("loop", "sgd"), "ghost vs loop (sgd)");
}

TEST(PipelineMpi, FedAvgAcrossRanksWeightsBySampleCount) {
  const Comm world = Comm::world();
  // silo 0 (10 samples) on rank 0, silo 1 (30 samples) on rank 1, silo 2 (20) on rank 0
  const std::vector<torch::Tensor> xs{torch::tensor({1.0f, 2.0f}), torch::tensor({3.0f, 4.0f}), torch::tensor({-1.0f, 0.0f})};
  auto owner = [](int64_t j) { return j == 1 ? 1 : 0; };
  auto avg = federated_average(world, {10, 30, 20}, owner, [&](int64_t j) {
    EXPECT_EQ(owner(j), world.rank()) << "item asked of a rank that does not host it";
    return xs[static_cast<size_t>(j)];
  }, 2);
  // (10·(1,2) + 30·(3,4) + 20·(-1,0)) / 60 = (80/60, 140/60), on every rank
  EXPECT_NEAR(avg[0].item<double>(), 80.0 / 60.0, 1e-6);
  EXPECT_NEAR(avg[1].item<double>(), 140.0 / 60.0, 1e-6);
}

TEST(PipelineMpi, RefusesToOverwriteAFinishedRunUnlessAsked) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  Config cfg = small_config(dir, dir + "/again");
  cfg.train.rounds = 1;
  run_pipeline(cfg, world);
  bool refused = false;
  if (world.is_root()) {
    try {
      run_pipeline(cfg, Comm::serial());
    } catch (const InputError& e) {
      refused = std::string(e.what()).find("--overwrite") != std::string::npos;
    }
  }
  cfg.overwrite = true;
  run_pipeline(cfg, world);
  if (world.is_root()) {
    EXPECT_TRUE(refused);
    EXPECT_TRUE(file_exists(cfg.out + "/report.json"));
  }
}

// The comparison after selection, on a pretrained base: every row of the table is there
// and finite, row sizes follow their definitions, and the data-parallel pretraining gives
// the same base on 2 ranks as on 1.
TEST(PipelineMpi, ComparisonRowsArePresentAndFiniteOnAPretrainedBase) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  if (world.is_root()) {
    clues::testing::write_reverse_set(dir + "/test_beta.jsonl", "", 6, 0, 6);
    clues::testing::write_reverse_set(dir + "/public.jsonl", "", 30, 0, 8);
  }
  world.barrier();
  Config cfg = small_config(dir, dir + "/compare");
  cfg.tests.push_back({"beta", dir + "/test_beta.jsonl"});
  cfg.pretrain.corpus = {dir + "/public.jsonl"};
  cfg.pretrain.cache = dir + "/cache2";
  cfg.pretrain.steps = 5;
  cfg.pretrain.batch_size = 12;
  const RunSummary sum = run_pipeline(cfg, world);

  // The same base pretrained on one rank.
  Config one = cfg;
  one.pretrain.cache = dir + "/cache1";
  if (world.is_root()) {
    Decoder a = make_model(cfg.model, cfg.seed), b = make_model(cfg.model, cfg.seed);
    read_tensors(H5File::open_read(pretrain_file(cfg)), "/params", [&] {
      NamedTensors t;
      for (const auto& p : a->named_parameters(true))
        if (p.key().find("lora") == std::string::npos) t.emplace_back(p.key(), p.value());
      return t;
    }());
    pretrain_base(one, Comm::serial(), b);
    for (const auto& p : a->named_parameters(true)) {
      if (p.key().find("lora") != std::string::npos) continue;
      EXPECT_TRUE(torch::allclose(p.value(), b->named_parameters(true)[p.key()], 1e-5, 1e-6)) << p.key();
    }
  }
  if (!world.is_root()) return;
  const auto rep = nlohmann::json::parse(read_text(cfg.out + "/report.json"));
  ASSERT_TRUE(rep.contains("comparison"));
  const std::vector<std::string> rows = {"clues", "blend", "full", "random", "perplexity", "ifd", "datainf", "ratio", "oracle"};
  ASSERT_EQ(sum.comparison.size(), rows.size());
  const std::string md = read_text(cfg.out + "/comparison.md");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rep["comparison"][rows[i]];
    EXPECT_EQ(sum.comparison[i].name, rows[i]);
    ASSERT_TRUE(r["macro_test_loss"].is_number()) << rows[i];
    EXPECT_TRUE(std::isfinite(r["macro_test_loss"].get<double>()) && r["macro_test_loss"].get<double>() > 0) << rows[i];
    EXPECT_TRUE(std::isfinite(r["macro_perplexity"].get<double>())) << rows[i];
    const double em = r["macro_exact_match"].get<double>();
    EXPECT_TRUE(em >= 0 && em <= 1) << rows[i];
    EXPECT_TRUE(r["pooled"]["f1"].is_number()) << rows[i];
    EXPECT_NE(md.find("| " + rows[i] + " |"), std::string::npos) << rows[i];
  }
  for (const char* ranked : {"clues", "blend", "perplexity", "ifd", "ratio"})
    EXPECT_TRUE(rep["comparison"][ranked]["pooled"]["auroc"].is_number()) << ranked;
  for (const char* name : {"alpha", "beta"}) {
    const auto kept = [&](const char* row) { return rep["comparison"][row]["silos"][name]["kept"].get<int64_t>(); };
    EXPECT_EQ(kept("random"), kept("clues")) << name;
    EXPECT_EQ(kept("perplexity"), kept("clues")) << name;
    EXPECT_EQ(kept("blend"), kept("clues")) << name;
    EXPECT_EQ(kept("blend"), rep["silos"][name]["kept"].get<int64_t>()) << name;  // the run's own (rank=blend)
    EXPECT_LE(kept("ifd"), kept("clues")) << name;
    EXPECT_EQ(kept("full"), rep["silos"][name]["samples"].get<int64_t>());
  }
  EXPECT_EQ(rep["comparison"]["oracle"]["silos"]["alpha"]["kept"].get<int64_t>(), 24 - 3);
  EXPECT_EQ(rep["comparison"]["oracle"]["silos"]["beta"]["kept"].get<int64_t>(), 20 - 10);
  EXPECT_DOUBLE_EQ(rep["comparison"]["oracle"]["pooled"]["precision"].get<double>(), 1.0);
}

// compare.seeds: each row is fine-tuned once per seed; the table gives the mean and the
// spread of the macro test loss; with one seed there is no spread.
TEST(PipelineMpi, ComparisonOverSeedsReportsMeanAndSpread) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  if (world.is_root()) clues::testing::write_reverse_set(dir + "/test_beta.jsonl", "", 6, 0, 6);
  world.barrier();
  Config cfg = small_config(dir, dir + "/seeds2");
  cfg.tests.push_back({"beta", dir + "/test_beta.jsonl"});
  cfg.compare.rows = {"clues", "full"};
  cfg.compare.seeds = 2;
  const RunSummary two = run_pipeline(cfg, world);
  Config one = cfg;
  one.out = dir + "/seeds1";
  one.compare.seeds = 1;
  const RunSummary single = run_pipeline(one, world);
  if (!world.is_root()) return;
  ASSERT_EQ(two.comparison.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_GE(two.comparison[i].macro_loss_sd, 0.0);
    EXPECT_LT(single.comparison[i].macro_loss_sd, 0.0);  // one seed: no spread
    EXPECT_TRUE(std::isfinite(two.comparison[i].macro_loss));
  }
  EXPECT_NE(read_text(cfg.out + "/comparison.md").find(" ± "), std::string::npos);
  const auto rep = nlohmann::json::parse(read_text(cfg.out + "/report.json"));
  EXPECT_TRUE(rep["comparison"]["full"]["macro_test_loss_sd"].is_number());
}

// score.project_dim: every silo, the anchors and the validation gradient get k-dimensional
// features per checkpoint, and scores recomputed from them alone, Σ_c lr_c/C ⟨f_ic, v_c⟩,
// agree with the exact scores (Pearson r > 0.95 at k = 4096 over ~500 parameters: the JL
// error of each inner product is about sqrt(2/k) = 2% of |Γ(g_i)|·|ḡ|).
TEST(PipelineMpi, ProjectedFeaturesRescoreLikeTheScores) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  Config cfg = small_config(dir, dir + "/features");
  cfg.score.project_dim = 4096;
  cfg.score.project_seed = 3;
  cfg.compare.rows = {};
  run_pipeline(cfg, world);
  if (!world.is_root()) return;
  const auto scores = H5File::open_read(cfg.out + "/scores.h5").read_f64("/silos/beta/score");
  std::vector<double> re(scores.size(), 0.0);
  for (int64_t c = 0; c < cfg.train.rounds; ++c) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "_round_%03lld.h5", static_cast<long long>(c));
    const H5File fv = H5File::open_read(cfg.out + "/features/validation" + suffix);
    const H5File fs_ = H5File::open_read(cfg.out + "/features/silo_beta" + suffix);
    ASSERT_TRUE(file_exists(cfg.out + "/features/silo_alpha" + suffix));
    ASSERT_TRUE(file_exists(cfg.out + "/features/anchor_for_alpha" + suffix));
    std::vector<hsize_t> shape;
    const auto v = fv.read_f32("/features");
    const auto f = fs_.read_f32("/features", &shape);
    ASSERT_EQ(shape, (std::vector<hsize_t>{scores.size(), 4096}));
    const double w = fs_.attr_f64("/", "lr") / fs_.attr_f64("/", "checkpoints");
    for (size_t i = 0; i < scores.size(); ++i) {
      double dot = 0;
      for (size_t k = 0; k < 4096; ++k) dot += static_cast<double>(f[i * 4096 + k]) * v[k];
      re[i] += w * dot;
    }
  }
  const double ma = mean(scores), mb = mean(re);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < re.size(); ++i) {
    sab += (scores[i] - ma) * (re[i] - mb);
    saa += (scores[i] - ma) * (scores[i] - ma);
    sbb += (re[i] - mb) * (re[i] - mb);
  }
  const double r = sab / std::sqrt(saa * sbb);
  EXPECT_GT(r, 0.95) << "Pearson r of re-scored against exact scores";
  std::printf("features: Pearson r of scores re-computed from 4096-dim projections: %.4f\n", r);
}

// scores.h5 goes through MPI-IO: each rank writes the datasets it holds, the others join
// with empty selections, and HDF5 reports every transfer as collective.
TEST(PipelineMpi, ParallelHdf5WritesAreCollective) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  const std::string path = dir + "/parallel.h5";
  std::vector<int> modes;
  {
    H5File f = H5File::create_parallel(path, world.raw());
    ASSERT_TRUE(f.parallel());
    f.create_dataset("/silos/a/score", H5File::Type::kF64, 5);
    f.create_dataset("/silos/b/selected", H5File::Type::kU8, 3);
    f.create_dataset("/silos/c/score", H5File::Type::kF64, 0);  // an empty silo
    const std::vector<double> a = {1, 2, 3, 4, 5};
    const std::vector<uint8_t> b = {1, 0, 1};
    modes.push_back(f.write_collective("/silos/a/score", H5File::Type::kF64, a.data(), world.rank() == 0));
    modes.push_back(f.write_collective("/silos/b/selected", H5File::Type::kU8, b.data(), world.rank() == 1));
    modes.push_back(f.write_collective("/silos/c/score", H5File::Type::kF64, nullptr, world.rank() == 1));
    f.set_attr("/", "threshold", 0.25);
  }
  for (int m : modes.size() ? std::vector<int>(modes.begin(), modes.end() - 1) : modes)
    EXPECT_EQ(m, static_cast<int>(H5D_MPIO_CONTIGUOUS_COLLECTIVE)) << "rank " << world.rank();
  world.barrier();
  if (world.is_root()) {
    const H5File r = H5File::open_read(path);
    EXPECT_EQ(r.read_f64("/silos/a/score"), (std::vector<double>{1, 2, 3, 4, 5}));
    EXPECT_EQ(r.read_u8("/silos/b/selected"), (std::vector<uint8_t>{1, 0, 1}));
    EXPECT_TRUE(r.read_f64("/silos/c/score").empty());
    EXPECT_DOUBLE_EQ(r.attr_f64("/", "threshold"), 0.25);
  }
}

// select.scope=silo: each silo's threshold is the rule (here mean) on the anchors scored like its
// own samples (its slice of the pooled /anchor/score, silo order); the selection applies it,
// and scores.h5 / report.json record it. select.anchor_moments=server: one set of anchor
// scores under the averaged moments, and a threshold that differs from the pooled one.
TEST(PipelineMpi, PerSiloAnchorThresholds) {
  const Comm world = Comm::world();
  const std::string dir = shared_dir(world);
  Config cfg = small_config(dir, dir + "/silo_anchors");
  cfg.select.threshold = ThresholdRule::kMean;  // checked below as each slice's mean
  cfg.select.scope = Scope::kSilo;
  const RunSummary sum = run_pipeline(cfg, world);
  cfg.select.scope = Scope::kGlobal;
  cfg.select.anchor_moments = Moments::kServer;
  cfg.out = dir + "/server_anchors";
  const RunSummary server = run_pipeline(cfg, world);
  if (!world.is_root()) return;
  const H5File f = H5File::open_read(dir + "/silo_anchors/scores.h5");
  const auto rep = nlohmann::json::parse(read_text(dir + "/silo_anchors/report.json"));
  EXPECT_TRUE(rep["threshold"].is_null());
  const auto pooled = f.read_f64("/anchor/score");
  ASSERT_EQ(pooled.size(), 16u);
  std::vector<double> taus;
  for (const char* name : {"alpha", "beta"}) {
    const std::string g = std::string("/silos/") + name;
    const double tau = f.attr_f64(g, "threshold");
    const size_t at = taus.size() * 8;
    EXPECT_NEAR(tau, mean(std::vector<double>(pooled.begin() + at, pooled.begin() + at + 8)), 1e-12) << name;
    EXPECT_DOUBLE_EQ(rep["silos"][name]["threshold"].get<double>(), tau);
    const auto score = f.read_f64(g + "/score");
    EXPECT_EQ(f.read_u8(g + "/selected"), expected_selection(score, f.read_f64(g + "/warmup_loss"), tau, cfg.select)) << name;
    taus.push_back(tau);
  }
  EXPECT_NE(taus[0], taus[1]) << "the silos' moments differ, so should their thresholds";
  ASSERT_EQ(sum.silos.size(), 2u);
  EXPECT_NE(format_summary(sum).find("threshold per silo"), std::string::npos);
  const auto server_anchor = H5File::open_read(dir + "/server_anchors/scores.h5").read_f64("/anchor/score");
  ASSERT_EQ(server_anchor.size(), 8u);
  EXPECT_NEAR(server.threshold, mean(server_anchor), 1e-12);
  EXPECT_NE(server.threshold, mean(pooled));
}

int main(int argc, char** argv) {
  MpiSession mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  torch::set_num_threads(1);
  const Comm world = Comm::world();
  if (!world.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  // A failure on any rank fails the whole test.
  const bool ok = world.all_ok(rc == 0);
  world.barrier();
  if (world.is_root()) {  // the shared scratch folder, once every rank is done with it
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("clues_mpi_" + std::to_string(::getpid())), ec);
  }
  return ok ? 0 : 1;
}

