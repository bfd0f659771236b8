// Unit tests of thresholds, selections, detection metrics and the table of selection
// rules (lib/method/select.h, lib/method/rules.h): by hand, ties included. No LibTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "expect_error.h"
#include "io/error.h"
#include "io/report.h"
#include "lib/config/config.h"
#include "lib/method/rules.h"
#include "lib/method/select.h"

using namespace clues;
using clues::testing::expect_input_error;

TEST(Select, ThresholdModes) {
  std::vector<double> a{1, 2, 3, 4, 10};
  SelectConfig sc;
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), 1.8);  // default: the 0.2-quantile, pos 0.8 -> 1 + 0.8*1
  sc.threshold = ThresholdRule::kMean;
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), 4.0);
  sc.threshold = ThresholdRule::kQuantile;
  sc.quantile = 0.5;
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), 3.0);
  sc.quantile = 0.25;
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), 2.0);
  sc.quantile = 0.9;  // pos 3.6 -> 4 + 0.6*6
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), 7.6);
  sc.threshold = ThresholdRule::kFixed;
  sc.value = -1.5;
  EXPECT_DOUBLE_EQ(anchor_threshold(a, sc), -1.5);
}

TEST(Select, AtThresholdKeepsTies) {
  std::vector<double> s{0.5, 1.0, 1.5, 1.0, -2};
  EXPECT_EQ(select_at_threshold(s, 1.0), (std::vector<uint8_t>{0, 1, 1, 1, 0}));
  EXPECT_EQ(select_top_ratio(s, 0.4), (std::vector<uint8_t>{0, 1, 1, 0, 0}));  // tie: earlier first
  EXPECT_EQ(select_top_ratio(s, 0.0), (std::vector<uint8_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(select_top_ratio(s, 1.0), (std::vector<uint8_t>{1, 1, 1, 1, 1}));
}

TEST(Select, AurocByHandWithTies) {
  // clean = label 0 (positive). Pairs (clean, bad): clean scores {3, 2, 2}, bad {2, 1}
  // comparisons: 3>2,3>1, 2=2 (.5),2>1, 2=2 (.5),2>1 -> 5/6
  std::vector<double> s{3, 2, 2, 2, 1};
  std::vector<uint8_t> l{0, 0, 0, 1, 1};
  EXPECT_NEAR(auroc(s, l), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(auroc({1, 2}, {0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(auroc({5, 5, 5}, {0, 1, 0}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(auroc({1, 2}, {0, 0})));
}

TEST(Select, DetectionByHand) {
  // selected: 1 1 0 0 1 ; labels: 0 1 0 1 0 -> tp=2 (0,4), fp=1 (1), fn=1 (2)
  auto d = detection({1, 1, 0, 0, 1}, {0, 1, 0, 1, 0});
  EXPECT_EQ(d.tp, 2);
  EXPECT_EQ(d.fp, 1);
  EXPECT_EQ(d.fn, 1);
  EXPECT_NEAR(d.precision, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(d.recall, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(d.f1, 2.0 / 3.0, 1e-12);
}

TEST(Baselines, TopKAndLowestLossKeepTiesInInputOrder) {
  const std::vector<double> s = {0.5, 0.9, 0.5, 0.1, 0.9};
  EXPECT_EQ(select_top_k(s, 3), (std::vector<uint8_t>{1, 1, 0, 0, 1}));
  EXPECT_EQ(select_top_k(s, 0), (std::vector<uint8_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(select_top_k(s, 9), (std::vector<uint8_t>{1, 1, 1, 1, 1}));
  // perplexity: the k lowest losses
  EXPECT_EQ(select_lowest_loss({2.0, 0.5, 3.0, 0.7}, 2), (std::vector<uint8_t>{0, 1, 0, 1}));
}

TEST(Baselines, IfdKeepsHighestBelowOne) {
  // IFD = loss with prompt / loss of the answer alone
  const auto v = ifd({1.0, 2.0, 0.9, 3.0, 0.5}, {2.0, 1.0, 1.0, 3.0, 0.0});
  ASSERT_EQ(v.size(), 5u);
  EXPECT_DOUBLE_EQ(v[0], 0.5);
  EXPECT_DOUBLE_EQ(v[1], 2.0);
  EXPECT_DOUBLE_EQ(v[2], 0.9);
  EXPECT_DOUBLE_EQ(v[3], 1.0);
  EXPECT_TRUE(std::isinf(v[4]));
  // highest IFD below 1 first: 0.9 (index 2), then 0.5 (index 0); IFD >= 1 never kept
  EXPECT_EQ(select_ifd(v, 1), (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  EXPECT_EQ(select_ifd(v, 2), (std::vector<uint8_t>{1, 0, 1, 0, 0}));
  EXPECT_EQ(select_ifd(v, 4), (std::vector<uint8_t>{1, 0, 1, 0, 0}));
  EXPECT_EQ(ifd_ranking(v), (std::vector<double>{0.5, -1.0, 0.9, -1.0, -1.0}));
}

TEST(Baselines, RandomSelectionHasSizeKAndIsAPureFunction) {
  const auto a = select_random(50, 17, 3, 1);
  EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0), 17);
  EXPECT_EQ(a, select_random(50, 17, 3, 1));
  EXPECT_NE(a, select_random(50, 17, 3, 2));  // another silo draws another subset
  EXPECT_NE(a, select_random(50, 17, 4, 1));
  const auto all = select_random(5, 9, 3, 1);  // k > n keeps everything
  EXPECT_EQ(all, std::vector<uint8_t>(5, 1));
}

namespace {
// One silo's signals for the rule tests.
Signals signals_of(const std::vector<double>& score, const std::vector<double>& loss, const std::vector<double>& ifdv,
                   const std::vector<double>& influence) {
  Signals s;
  s[signal::kScore] = score;
  s[signal::kWarmupLoss] = loss;
  s[signal::kIfd] = ifdv;
  if (!influence.empty()) s[signal::kDatainf] = influence;
  return s;
}
}  // namespace

TEST(Rules, SelectionsAndRankingsOfEveryRule) {
  Config cfg;
  cfg.seed = 1;
  cfg.select.keep_ratio = 0.5;
  const std::vector<double> score = {0.3, -0.1, 0.8, 0.2};
  const std::vector<uint8_t> clues_sel = {1, 0, 1, 0};  // CLUES kept 2
  const std::vector<uint8_t> labels = {0, 1, 0, 0};
  const Signals sig = signals_of(score, {1.0, 0.2, 3.0, 0.4}, {0.9, 0.5, 1.2, 0.7}, {0.5, -2.0, 0.1, 3.0});
  const RuleInput in{sig, clues_sel, labels, cfg, 0};
  auto sel = [&](const char* rule) { return rule_selection(selection_rule(rule), in); };
  auto rank = [&](const char* rule) { return rule_ranking(selection_rule(rule), in); };
  EXPECT_EQ(sel("clues"), clues_sel);
  EXPECT_EQ(sel("full"), (std::vector<uint8_t>{1, 1, 1, 1}));
  EXPECT_EQ(sel("perplexity"), (std::vector<uint8_t>{0, 1, 0, 1}));  // the 2 lowest losses
  EXPECT_EQ(sel("ifd"), (std::vector<uint8_t>{1, 0, 0, 1}));         // 0.9 and 0.7
  EXPECT_EQ(sel("datainf"), (std::vector<uint8_t>{0, 1, 1, 0}));     // -2.0 and 0.1 (lowest = most helpful)
  EXPECT_EQ(sel("ratio"), (std::vector<uint8_t>{1, 0, 1, 0}));       // half, by score
  EXPECT_EQ(sel("oracle"), (std::vector<uint8_t>{1, 0, 1, 1}));
  const auto r = sel("random");
  EXPECT_EQ(std::accumulate(r.begin(), r.end(), 0), 2);
  expect_input_error([&] { sel("nonsense"); }, {"nonsense", "is no selection rule", "blend"});
  EXPECT_EQ(rank("perplexity"), (std::vector<double>{-1.0, -0.2, -3.0, -0.4}));
  EXPECT_EQ(rank("datainf"), (std::vector<double>{-0.5, 2.0, -0.1, -3.0}));
  EXPECT_EQ(rank("clues"), score);
  EXPECT_TRUE(rank("random").empty());
  // blend: score ranks {3, 1, 4, 2}, negated-loss ranks {2, 4, 1, 3}; (0.25·r_s + 0.75·r_l) / 4.
  cfg.select.loss_weight = 0.75;
  EXPECT_EQ(rank("blend"), (std::vector<double>{0.5625, 0.8125, 0.4375, 0.6875}));
  EXPECT_EQ(sel("blend"), (std::vector<uint8_t>{0, 1, 0, 1}));  // CLUES's count, the 2 highest blends
  cfg.select.loss_weight = 0.25;  // the score's percentile weighs more: 0.6875, 0.4375, 0.8125, 0.5625
  EXPECT_EQ(sel("blend"), (std::vector<uint8_t>{1, 0, 1, 0}));
  cfg.select.loss_weight = 0.5;  // every blend ties at 0.625: earlier first
  EXPECT_EQ(sel("blend"), (std::vector<uint8_t>{1, 1, 0, 0}));
  cfg.select.rank = "clues";  // the rules do not depend on the run's rank
  EXPECT_EQ(rank("clues"), score);
  EXPECT_EQ(sel("blend"), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(Config().select.rank, "blend");  // the default
  // A rule reading a signal this silo lacks fails naming it.
  const Signals bare = signals_of(score, {1.0, 0.2, 3.0, 0.4}, {0.9, 0.5, 1.2, 0.7}, {});
  EXPECT_THROW(rule_selection(selection_rule("datainf"), {bare, clues_sel, labels, cfg, 0}), Error);
  // Labels never select the run's samples; unknown names are refused with the table's names.
  Config c;
  c.select.rank = "oracle";
  expect_input_error([&] { check_rule_names(c); }, {"select.rank", "evaluation only"});
  c.select.rank = "perplexity";
  EXPECT_NO_THROW(check_rule_names(c));
  c.compare.rows = {"clues", "best"};
  expect_input_error([&] { check_rule_names(c); }, {"compare.rows", "best", "datainf"});
}

TEST(Rules, AMadeUpRuleIsOneTableEntry) {
  // The largest-token-loss rule a study might add: keep CLUES's count with the smallest
  // max_token_loss. One entry; then it is a row, a rank and a ranking like any other.
  SelectionRule r;
  r.name = "test_max_token";
  r.help = "as many as clues keeps, the lowest largest-token losses";
  r.needs = {signal::kMaxTokenLoss};
  r.rank = [](const RuleInput& in) { return negated(in.signals.at(signal::kMaxTokenLoss)); };
  r.select = [](const RuleInput& in) { return select_lowest_loss(in.signals.at(signal::kMaxTokenLoss), in.k()); };
  add_selection_rule(r);
  EXPECT_THROW(add_selection_rule(r), Error);  // a name once
  Config cfg;
  cfg.compare.rows = parse_rows("clues,test_max_token");
  cfg.select.rank = "test_max_token";
  EXPECT_NO_THROW(check_rule_names(cfg));
  EXPECT_EQ(compare_rows(cfg.compare, false), (std::vector<std::string>{"clues", "test_max_token"}));
  EXPECT_EQ(compare_rows(CompareConfig{}, true).back(), "test_max_token");  // "all" holds it, at the end
  cfg.silos = {{"a", "a.jsonl"}};
  EXPECT_TRUE(rule_needs(cfg, signal::kMaxTokenLoss));  // the run computes what its rule reads
  EXPECT_FALSE(rule_needs(cfg, signal::kDatainf));      // no tests: no comparison rows
  Signals sig;
  sig[signal::kMaxTokenLoss] = {2.0, 0.5, 1.0, 3.0};
  const std::vector<uint8_t> by_score = {1, 1, 0, 0}, labels = {0, 0, 1, 1};
  const RuleInput in{sig, by_score, labels, cfg, 0};
  EXPECT_EQ(rule_selection(selection_rule("test_max_token"), in), (std::vector<uint8_t>{0, 1, 1, 0}));
  // Its detection figures come out of the same code as every row's.
  CompareRow cr;
  cr.silos.resize(1);
  fill_detection(cr, {rule_ranking(selection_rule("test_max_token"), in)}, {rule_selection(selection_rule("test_max_token"), in)},
                 {labels}, true);
  EXPECT_DOUBLE_EQ(cr.silos[0].auroc, 0.75);  // clean {2.0, 0.5} vs bad {1.0, 3.0}: -0.5 > -1, -0.5 > -3, -2 > -3, -2 < -1
  EXPECT_DOUBLE_EQ(cr.silos[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(cr.pooled_auroc, 0.75);
}

TEST(Select, BlendKeepsTheThresholdsCountRankedByTheBlend) {
  EXPECT_EQ(average_ranks({2.0, 1.0, 2.0, 3.0}), (std::vector<double>{2.5, 1.0, 2.5, 4.0}));
  const std::vector<double> score = {0.3, -0.1, 0.8, 0.2, 0.5};
  const std::vector<double> loss = {2.0, 0.1, 3.0, 0.2, 0.3};
  SelectConfig sc;
  sc.threshold = ThresholdRule::kFixed;
  const auto by_score = select_by_score(score, 0.25, sc);
  EXPECT_EQ(by_score, (std::vector<uint8_t>{1, 0, 1, 0, 1}));  // the paper's: >= tau
  EXPECT_EQ(select_blend(score, loss, 3, 1.0), (std::vector<uint8_t>{0, 1, 0, 1, 1}));  // the loss alone: the 3 lowest
  EXPECT_EQ(select_blend(score, loss, 3, 0.0), by_score);  // the score alone: the paper's selection
  sc.threshold = ThresholdRule::kRatio;  // the count from keep_ratio
  sc.keep_ratio = 0.4;
  const auto by_ratio = select_by_score(score, std::nan(""), sc);
  EXPECT_EQ(std::accumulate(by_ratio.begin(), by_ratio.end(), 0), 2);
  EXPECT_EQ(select_blend(score, loss, 2, 1.0), (std::vector<uint8_t>{0, 1, 0, 1, 0}));
  EXPECT_THROW(blend_ranking(score, {1.0}, 0.5), InputError);
}

TEST(Baselines, CompareRowsParsing) {
  CompareConfig cc;
  const auto all = compare_rows(cc, true);
  ASSERT_EQ(all.size(), selection_rules().size());  // "all": the whole table (9 rules, and any a test added)
  EXPECT_EQ(std::vector<std::string>(all.begin(), all.begin() + 9),
            (std::vector<std::string>{"clues", "blend", "full", "random", "perplexity", "ifd", "datainf", "ratio", "oracle"}));
  const auto unlabelled = compare_rows(cc, false);
  EXPECT_EQ(std::count(unlabelled.begin(), unlabelled.end(), "oracle"), 0);  // no oracle without labels
  EXPECT_EQ(unlabelled.size(), all.size() - 1);
  cc.rows = parse_rows("oracle,clues");
  EXPECT_EQ(compare_rows(cc, true), (std::vector<std::string>{"clues", "oracle"}));  // table order
  cc.rows = parse_rows("none");
  EXPECT_TRUE(compare_rows(cc, true).empty());
  EXPECT_EQ(parse_rows("all"), (std::vector<std::string>{"all"}));
}

