// Unit tests of the parts without LibTorch: JSONL and label readers, tokenizer and prompt
// format, configuration checks and the option table, file formats of io/ (silo state
// files, report rows). Thresholds, selections and the rule table: test_select.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "io/safetensors.h"
#include "lib/dist/comm.h"
#include "lib/config/config.h"
#include "apps/options.h"
#include "io/report.h"
#include "io/state_file.h"
#include "lib/method/rules.h"
#include "lib/model/tokenizer.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using namespace clues;
using clues::testing::expect_input_error;

namespace {
fs::path tmp_dir() { return fs::temp_directory_path() / ("clues_core_" + std::to_string(::getpid())); }

// This process's scratch folder goes when the process ends (ctest runs each case alone).
struct RemoveTmpDirAtExit {
  ~RemoveTmpDirAtExit() {
    std::error_code ec;
    fs::remove_all(tmp_dir(), ec);
  }
} remove_tmp_dir_at_exit;

std::string write_tmp(const std::string& name, const std::string& content) {
  const fs::path dir = tmp_dir();
  fs::create_directories(dir);
  std::string p = (dir / name).string();
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

}  // namespace

TEST(Jsonl, ReadsFieldsAndKeepsRawLines) {
  const std::string l1 = R"({"instruction":"Translate.","input":"house","output":"Haus","id":7})";
  const std::string l2 = R"({"instruction":"Say hi","output":"h\u00e9"})";
  auto p = write_tmp("ok.jsonl", l1 + "\n" + l2 + "\n");
  auto rs = read_jsonl(p);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].instruction, "Translate.");
  EXPECT_EQ(rs[0].input, "house");
  EXPECT_EQ(rs[0].output, "Haus");
  EXPECT_EQ(rs[0].raw, l1);
  EXPECT_EQ(rs[1].input, "");
  EXPECT_EQ(rs[1].output, "h\xc3\xa9");  // UTF-8 bytes
  EXPECT_EQ(rs[1].raw, l2);
}

TEST(Jsonl, BadLinesNameFileAndLine) {
  const std::string good = R"({"instruction":"a","output":"b"})";
  auto p1 = write_tmp("bad1.jsonl", good + "\n" + good + "\n{not json\n");
  expect_input_error([&] { read_jsonl(p1); }, {p1 + ":3", "not valid JSON"});
  auto p2 = write_tmp("bad2.jsonl", good + "\n" + R"({"instruction":"a"})" + "\n");
  expect_input_error([&] { read_jsonl(p2); }, {p2 + ":2", "missing field \"output\""});
  auto p3 = write_tmp("bad3.jsonl", R"({"instruction":"a","output":5})" "\n");
  expect_input_error([&] { read_jsonl(p3); }, {p3 + ":1", "\"output\" is not a string"});
  auto p4 = write_tmp("bad4.jsonl", good + "\n\n" + good + "\n");
  expect_input_error([&] { read_jsonl(p4); }, {p4 + ":2", "empty line"});
  auto p5 = write_tmp("bad5.jsonl", "[1,2]\n");
  expect_input_error([&] { read_jsonl(p5); }, {p5 + ":1", "not a JSON object"});
  auto p6 = write_tmp("bad6.jsonl", R"({"instruction":"a","input":3,"output":"b"})" "\n");
  expect_input_error([&] { read_jsonl(p6); }, {p6 + ":1", "\"input\""});
  expect_input_error([&] { read_jsonl("/nonexistent/x.jsonl"); }, {"/nonexistent/x.jsonl"});
  auto p7 = write_tmp("empty.jsonl", "");
  expect_input_error([&] { read_jsonl(p7); }, {"empty"});
}

// Pre-tokenized lines: input_ids with an optional response_mask (0s then 1s).
TEST(Jsonl, PreTokenizedLines) {
  const auto p = write_tmp("pre.jsonl", "{\"input_ids\": [1, 5, 6, 7, 2], \"response_mask\": [0, 0, 0, 1, 1]}\n"
                                        "{\"input_ids\": [1, 9]}\n");
  const auto r = read_jsonl(p);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].input_ids, (std::vector<int64_t>{1, 5, 6, 7, 2}));
  EXPECT_EQ(r[0].response_start, 3);
  EXPECT_EQ(r[1].response_start, 1);  // no mask: every token after the first
  const auto e = encode_sample(*byte_tokenizer(), r[0], SampleFormat{});
  EXPECT_EQ(e.ids, r[0].input_ids);
  EXPECT_EQ(e.response_start, 3);
  expect_input_error([&] { read_jsonl(write_tmp("b1.jsonl", "{\"input_ids\": [1, 2], \"response_mask\": [1, 0]}\n")); },
                     {"b1.jsonl:1", "response_mask"});
  expect_input_error([&] { read_jsonl(write_tmp("b2.jsonl", "{\"input_ids\": [1, -2]}\n")); }, {"b2.jsonl:1", "token id"});
  expect_input_error([&] { read_jsonl(write_tmp("b3.jsonl", "{\"input_ids\": [1, 2], \"response_mask\": [0]}\n")); },
                     {"b3.jsonl:1", "as long as"});
  Record big;
  big.input_ids = {1, 300, 2};
  big.response_start = 1;
  expect_input_error([&] { encode_sample(*byte_tokenizer(), big, SampleFormat{}); }, {"outside the model's vocabulary"});
}

// safetensors: what is written reads back (names, dtypes, shapes, bytes); a damaged header
// or a cut file is refused with the path.
TEST(Safetensors, RoundTripAndDamage) {
  const std::vector<float> a = {1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  const std::vector<uint16_t> b = {0x3f80, 0x4000};
  const std::string p = (fs::path(tmp_dir()) / "t.safetensors").string();
  fs::create_directories(tmp_dir());
  write_safetensors(p, {{"w.a", "F32", {2, 3}, a.data(), a.size() * 4}, {"w.b", "BF16", {2}, b.data(), 4}}, {{"format", "pt"}});
  {
    SafetensorsFile f(p);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"w.a", "w.b"}));
    const auto va = f.get("w.a");
    EXPECT_EQ(va.dtype, "F32");
    EXPECT_EQ(va.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(std::vector<float>(static_cast<const float*>(va.data), static_cast<const float*>(va.data) + 6), a);
    EXPECT_EQ(f.get("w.b").bytes, 4u);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    expect_input_error([&] { f.get("nope"); }, {"nope"});
  }
  const std::string bytes = read_text(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  EXPECT_EQ((8 + n) % 8, 0u);  // header padded to 8 bytes
  expect_input_error([&] { SafetensorsFile(write_tmp("cut.safetensors", bytes.substr(0, bytes.size() - 3))); },
                     {"cut.safetensors", "outside"});
  expect_input_error([&] { SafetensorsFile(write_tmp("short.safetensors", "abc")); }, {"short.safetensors"});
  std::string bad = bytes;
  bad[0] = static_cast<char>(0xff);  // header length past the end
  expect_input_error([&] { SafetensorsFile(write_tmp("len.safetensors", bad)); }, {"len.safetensors", "header length"});
  std::string notjson = bytes;
  notjson[8] = '[';
  expect_input_error([&] { SafetensorsFile(write_tmp("json.safetensors", notjson)); }, {"json.safetensors"});
}

// A torn journal keeps whole records only: 3 records of 4 values, the last cut mid-value
// and then by one more whole value, reads back as the first 2 records and is cut to them.
TEST(Journal, TornRecordIsDroppedWhole) {
  const std::string p = (fs::path(tmp_dir()) / "dots.bin").string();
  fs::create_directories(tmp_dir());
  fs::remove(p);
  for (int r = 0; r < 3; ++r) append_journal(p, {r + 0.1, r + 0.2, r + 0.3, r + 0.4});
  fs::resize_file(p, 12 * sizeof(double) - sizeof(double) - 3);
  const auto v = read_journal(p, 4);
  EXPECT_EQ(v, (std::vector<double>{0.1, 0.2, 0.3, 0.4, 1.1, 1.2, 1.3, 1.4}));
  EXPECT_EQ(fs::file_size(p), 8 * sizeof(double));
  append_journal(p, {2.1});
  EXPECT_EQ(read_journal(p).size(), 9u);  // records of one value: every whole value
}

TEST(Jsonl, Labels) {
  auto p = write_tmp("l.txt", "0\n1\n1\n0\n");
  EXPECT_EQ(read_labels(p), (std::vector<uint8_t>{0, 1, 1, 0}));
  auto bad = write_tmp("lbad.txt", "0\n2\n");
  expect_input_error([&] { read_labels(bad); }, {bad + ":2"});
}

TEST(Tokenizer, PromptFormatAndResponseStart) {
  Record r{"Translate.", "house", "Haus", ""};
  EXPECT_EQ(prompt_text(r), "Translate.\nhouse\n### Response:\n");
  Record no_input{"Say hi", "", "hi", ""};
  EXPECT_EQ(prompt_text(no_input), "Say hi\n### Response:\n");
  auto e = encode_sample(r, 1000);
  const std::string prompt = "Translate.\nhouse\n### Response:\n";
  ASSERT_EQ(e.ids.size(), 1 + prompt.size() + 4 + 1);
  EXPECT_EQ(e.ids.front(), kBos);
  EXPECT_EQ(e.ids.back(), kEos);
  EXPECT_EQ(e.response_start, static_cast<int64_t>(1 + prompt.size()));
  EXPECT_EQ(e.ids[static_cast<size_t>(e.response_start)], 'H');
  EXPECT_FALSE(e.truncated);
  EXPECT_EQ(decode_bytes(e.ids), prompt + "Haus");
  // bytes, not characters: é is two tokens
  EXPECT_EQ(encode_bytes("\xc3\xa9"), (std::vector<int64_t>{0xc3, 0xa9}));
}

TEST(Tokenizer, TruncationKeepsResponseTokens) {
  Record r{std::string(200, 'x'), "", std::string(100, 'y'), ""};
  auto e = encode_sample(r, 64);
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.ids.size(), 64u);
  EXPECT_EQ(e.ids[0], kBos);
  const int64_t resp = static_cast<int64_t>(e.ids.size()) - e.response_start;
  EXPECT_GE(resp, 16);  // at least a quarter of max_len of response
  EXPECT_EQ(e.ids[static_cast<size_t>(e.response_start)], 'y');
}

TEST(Config, ValidateNamesTheSetting) {
  Config c;
  c.silos = {{"a", "a.jsonl"}};
  c.validation = "v";
  c.anchor = "x";
  c.out = "o";
  EXPECT_NO_THROW(c.validate());
  Config d = c;
  d.silos.push_back({"a", "b.jsonl"});
  expect_input_error([&] { d.validate(); }, {"two silos are named \"a\""});
  Config e = c;
  e.model.d_model = 130;
  expect_input_error([&] { e.validate(); }, {"d_model"});
  Config f = c;
  f.labels = {{"zz", "l.txt"}};
  expect_input_error([&] { f.validate(); }, {"names no silo"});
  EXPECT_EQ(parse_named_path("data/ita.jsonl", false).name, "ita");
  EXPECT_EQ(parse_named_path("x=data/ita.jsonl", false).name, "x");
  expect_input_error([&] { parse_named_path("data/ita.jsonl", true); }, {"NAME=PATH"});
}

TEST(H5, RoundTripAndAtomicRename) {
  const std::string p = write_tmp("t.h5", "");
  const std::string tmp = temp_path_for(p);
  {
    H5File f = H5File::create(tmp);
    f.write_f64("/a/b/score", {1.5, -2.0});
    f.write_u8("/a/b/sel", {1, 0});
    float w[6] = {1, 2, 3, 4, 5, 6};
    f.write_f32("/w", w, {2, 3});
    f.set_attr("/", "threshold", 0.25);
    f.set_attr("/", "config", std::string("[x]\ny = 1\n"));
  }
  commit_file(tmp, p);
  EXPECT_FALSE(file_exists(tmp));
  H5File f = H5File::open_read(p);
  EXPECT_EQ(f.read_f64("/a/b/score"), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(f.read_u8("/a/b/sel"), (std::vector<uint8_t>{1, 0}));
  std::vector<hsize_t> shape;
  EXPECT_EQ(f.read_f32("/w", &shape).at(5), 6.0f);
  EXPECT_EQ(shape, (std::vector<hsize_t>{2, 3}));
  EXPECT_DOUBLE_EQ(f.attr_f64("/", "threshold"), 0.25);
  EXPECT_EQ(f.attr_str("/", "config"), "[x]\ny = 1\n");
  EXPECT_TRUE(f.exists("/a/b"));
  EXPECT_FALSE(f.exists("/nope/x"));
  EXPECT_EQ(f.list("/a/b"), (std::vector<std::string>{"score", "sel"}));
  EXPECT_THROW(f.read_f64("/missing"), IoError);
}

TEST(Comm, SerialOrderedSum) {
  Comm c = Comm::serial();
  std::vector<float> out;
  c.ordered_sum(3, [](int64_t) { return 0; }, 2,
                [](int64_t j, std::vector<float>& b) { b[0] = static_cast<float>(j); b[1] = 1; }, out);
  EXPECT_EQ(out, (std::vector<float>{3, 3}));
}

// ---- the comparison rows' selections, by hand

TEST(Baselines, MarkdownTableShowsTheGapClosed) {
  auto row = [](const char* name, double loss) {
    CompareRow r;
    r.name = name;
    r.macro_loss = loss;
    r.silos.push_back(RowSilo{});
    return r;
  };
  const std::string md = comparison_markdown({row("full", 3.0), row("clues", 2.5), row("oracle", 2.0)}, {"a"});
  EXPECT_NE(md.find("gap closed"), std::string::npos);
  EXPECT_NE(md.find("| clues | 0 | 2.5000 |"), std::string::npos) << md;
  EXPECT_NE(md.find(" 50% |"), std::string::npos) << md;   // (3.0 - 2.5) / (3.0 - 2.0)
  EXPECT_NE(md.find(" 100% |"), std::string::npos) << md;  // the oracle itself
}

// ---- the option table: command line, INI file and to_ini() are one description

TEST(Options, EveryKeyRoundTripsThroughTheIniFile) {
  Config a;
  a.silos = {{"ita", "/d/ita.jsonl"}, {"x", "/d/x.jsonl"}};
  a.validation = "/d/v.jsonl";
  a.anchor = "/d/a.jsonl";
  a.out = "/d/out";
  a.tests = {{"ita", "/d/t.jsonl"}};
  a.labels = {{"x", "/d/l.txt"}};
  a.pretrain.corpus = {"/d/p1.txt", "/d/p2.jsonl"};
  a.seed = 12345678901ull;
  a.threads = 3;
  a.device = Device::kCpu;
  a.model.finetune = Finetune::kFull;
  a.model.lora_targets = {"k", "down"};
  a.model.rope_base = 500000.5;
  a.train.lr = 0.1 + 0.2;  // 0.30000000000000004: needs all 17 digits
  a.train.eps = 1e-12;
  a.score.engine = Engine::kGhost;
  a.score.precondition = Precondition::kSgd;
  a.score.moments = Moments::kServer;
  a.score.normalize = Normalize::kUnit;
  a.score.project_seed = 7;
  a.select.threshold = ThresholdRule::kMean;
  a.select.anchor_moments = Moments::kServer;
  a.select.scope = Scope::kGlobal;
  a.select.quantile = 0.35;
  a.pretrain.seed = -1;
  a.pretrain.cache = "/c";
  a.compare.rows = {"clues", "ifd"};
  a.compare.seeds = 4;
  const std::string ini = a.to_ini();
  const std::string path = write_tmp("all.ini", ini);
  Config b;
  std::string help;
  ASSERT_TRUE(parse_run_options({"--config", path}, b, help));
  EXPECT_EQ(b.to_ini(), ini);
  EXPECT_EQ(b.train.lr, a.train.lr);
  EXPECT_EQ(b.seed, a.seed);
  EXPECT_EQ(b.score.engine, Engine::kGhost);
  EXPECT_EQ(b.compare.rows, a.compare.rows);
  EXPECT_EQ(b.labels.size(), 1u);
  // Every key of the table is in the file (progress is not recorded: it changes no result).
  for (const auto& k : config_keys()) {
    const std::string leaf = k.name.substr(k.name.find('.') == std::string::npos ? 0 : k.name.find('.') + 1);
    if (k.recorded && !k.get(a).empty()) {
      EXPECT_NE(ini.find("\n" + leaf + " = "), std::string::npos) << k.name;
    }
  }
  // The command line wins over the file; defaults stay what the struct says.
  Config c;
  ASSERT_TRUE(parse_run_options({"--config", path, "--train.lr", "0.5", "--score.engine", "loop"}, c, help));
  EXPECT_EQ(c.train.lr, 0.5);
  EXPECT_EQ(c.score.engine, Engine::kLoop);
  Config d;
  ASSERT_TRUE(parse_run_options({"--silo", "a.jsonl"}, d, help));
  EXPECT_EQ(d.train.lr, TrainConfig{}.lr);
  EXPECT_EQ(d.compare.rows, CompareConfig{}.rows);
  EXPECT_EQ(d.silos.at(0).name, "a");
}

TEST(Options, BadValuesNameTheKeyAndTheChoices) {
  Config c;
  std::string help;
  expect_input_error([&] { parse_run_options({"--score.engine", "fast"}, c, help); },
                     {"score.engine", "\"fast\"", "loop, batched, ghost"});
  expect_input_error([&] { parse_run_options({"--train.rounds", "3x"}, c, help); }, {"train.rounds", "not a number"});
  expect_input_error([&] { parse_run_options({"--seed", "-1"}, c, help); }, {"seed", "out of range"});
  expect_input_error([&] {  // rule names are checked against the rule table once the options are read
    Config r;
    parse_run_options({"--compare.rows", "clues,best"}, r, help);
    check_rule_names(r);
  }, {"compare.rows", "best"});
  expect_input_error([&] { parse_run_options({"--no.such", "1"}, c, help); }, {"no.such"});
  // Boost's message template would substitute this name into itself forever (fuzz_config found it).
  const auto ini = write_tmp("placeholder.ini", "[compare]\nrowoption '%canonical_option%'s = clues\n");
  expect_input_error([&] { parse_run_options({"--config", ini}, c, help); }, {"%canonical_option%", "no option"});
  expect_input_error([&] { parse_run_options({"--x%canonical_option%", "1"}, c, help); }, {"no option"});
}

// ---- silo state files: a header with magic, version and sizes

TEST(StateFile, RoundTripsAndRefusesTruncatedOrForeignFiles) {
  const int64_t P = 5;
  std::vector<float> theta(P), m(P), v(P), back(3 * P);
  for (int64_t i = 0; i < P; ++i) theta[i] = 0.5f * i, m[i] = -1.0f * i, v[i] = 1e-3f * i;
  fs::create_directories(tmp_dir());
  const std::string path = (tmp_dir() / "state.bin").string();
  write_state_file(path, 42, P, theta.data(), m.data(), v.data());
  EXPECT_EQ(fs::file_size(path), 32u + 3 * P * sizeof(float));
  EXPECT_EQ(read_state_file(path, P, back.data()), 42);
  EXPECT_EQ(std::vector<float>(back.begin(), back.begin() + P), theta);
  EXPECT_EQ(std::vector<float>(back.begin() + 2 * P, back.end()), v);
  auto refuses = [&](const std::string& file, int64_t params, const std::string& why) {
    try {
      read_state_file(file, params, back.data());
      ADD_FAILURE() << "accepted " << file << " (" << why << ")";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  };
  refuses(path, P + 1, "the model has 6");                   // another model
  fs::resize_file(path, fs::file_size(path) - 3);
  refuses(path, P, "truncated");
  write_state_file(path, 42, P, theta.data(), m.data(), v.data());
  std::ofstream(path, std::ios::app) << "x";
  refuses(path, P, "longer than its header says");
  const std::string foreign = write_tmp("foreign.bin", std::string(32 + 3 * P * sizeof(float), '\1'));
  refuses(foreign, P, "not a clues state file");
  refuses((tmp_dir() / "missing.bin").string(), P, "cannot read");
}

TEST(Report, ComparisonRowRoundTripsByFieldName) {
  CompareRow r;
  r.name = "ifd";
  r.macro_loss = 2.5;
  r.pooled_auroc = -1;
  r.silos = {RowSilo{3, 1.5, 4.5, 0.25, 0.75, -1, 0.5, 0.125}, RowSilo{}};
  fs::create_directories(tmp_dir());
  const std::string path = (tmp_dir() / "row.json").string();
  write_compare_row(path, r);
  EXPECT_NE(read_text(path).find("\"macro_loss\":2.5"), std::string::npos);  // named, not positional
  const CompareRow b = read_compare_row(path);
  EXPECT_EQ(b.name, "ifd");
  EXPECT_EQ(b.macro_loss, 2.5);
  ASSERT_EQ(b.silos.size(), 2u);
  EXPECT_EQ(b.silos[0].kept, 3);
  EXPECT_EQ(b.silos[0].f1, 0.125);
  EXPECT_EQ(b.silos[0].recall, 0.5);
  write_tmp("row_bad.json", "{\"name\":\"ifd\"}");
  EXPECT_THROW(read_compare_row((tmp_dir() / "row_bad.json").string()), IoError);
}
