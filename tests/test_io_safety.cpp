// Unit tests (part of test_core) of what keeps a run's files and a user's data safe: input
// lines read as written (CRLF, a blank last line, numbers beyond double's range), writes
// that fail leave no temporary and commit nothing, --overwrite's clearing touches only
// what clues writes, and errors agreed by every rank.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/error.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/jsonl.h"
#include "io/layout.h"
#include "lib/dist/comm.h"
#include "lib/config/config.h"

namespace fs = std::filesystem;
using namespace clues;

namespace {
fs::path scratch() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("clues_io_safety_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}
struct RemoveScratch {
  ~RemoveScratch() {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("clues_io_safety_" + std::to_string(::getpid())), ec);
  }
} remove_scratch;

std::string put(const std::string& name, const std::string& content) {
  const std::string p = (scratch() / name).string();
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string text_of(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> temporaries_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}
}  // namespace

TEST(JsonlSafety, CrlfLinesKeepTheirCarriageReturnInRaw) {
  const std::string l = R"({"instruction":"a","output":"b"})";
  const auto rs = read_jsonl(put("crlf.jsonl", l + "\r\n" + l + "\r\n"));
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].raw, l + "\r");  // selected/ writes raw + "\n": the CRLF line again
  EXPECT_EQ(rs[0].output, "b");
}

TEST(JsonlSafety, BlankLinesAtTheEndAreNoLines) {
  const std::string l = R"({"instruction":"a","output":"b"})";
  EXPECT_EQ(read_jsonl(put("tail.jsonl", l + "\n\n  \n\r\n")).size(), 1u);
  EXPECT_EQ(read_labels(put("tail.txt", "0\n1\n\n")).size(), 2u);
  EXPECT_THROW(read_jsonl(put("middle.jsonl", l + "\n\n" + l + "\n")), InputError);  // within the file: still refused
  EXPECT_THROW(read_jsonl(put("blank_only.jsonl", "\n\n")), InputError);            // no sample at all
}

TEST(JsonlSafety, NumberBeyondDoubleInAnIgnoredFieldCostsNoLine) {
  const auto rs = read_jsonl(put("big.jsonl", R"({"instruction":"a","output":"b","x":1e999,"y":[-1e999,2]})" "\n"));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].output, "b");
  EXPECT_EQ(rs[0].raw, R"({"instruction":"a","output":"b","x":1e999,"y":[-1e999,2]})");
  try {
    read_jsonl(put("big_out.jsonl", R"({"instruction":"a","output":1e999})" "\n"));
    FAIL() << "an output of 1e999 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(":1"), std::string::npos) << e.what();
  }
}

TEST(WriteSafety, AFailedHdf5WriteLeavesNothingAndKeepsTheOldFile) {
  const std::string p = (scratch() / "round.h5").string();
  write_h5_file(p, [](H5File& f) { f.write_f64("/x", {1.0}); });
  try {
    write_h5_file(p, [](H5File& f) {
      f.write_f64("/x", {2.0});
      throw IoError("injected write failure");
    });
    FAIL() << "the failure was swallowed";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_TRUE(temporaries_in(scratch()).empty());
  EXPECT_EQ(H5File::open_read(p).read_f64("/x"), std::vector<double>{1.0});
}

TEST(WriteSafety, AFailedFileWriteLeavesNothingAndKeepsTheOldFile) {
  const std::string p = put("report.json", "old");
  EXPECT_THROW(write_file_atomic(p, [](std::ostream& out) {
                 out << "half";
                 throw IoError("injected");
               }),
               IoError);
  EXPECT_TRUE(temporaries_in(scratch()).empty());
  EXPECT_EQ(text_of(p), "old");
}

TEST(LayoutSafety, ClearRemovesOnlyWhatARunWrites) {
  const fs::path out = scratch() / "run";
  const RunLayout files(out.string());
  EXPECT_FALSE(files.is_run());
  put("run/notes.txt", "mine");
  put("run/checkpoints/round_000.h5", "x");
  put("run/report.json.tmp.123", "x");
  put("run/report.json.tmp.mine", "mine");
  put("run/model/model.safetensors", "x");
  files.mark();
  EXPECT_TRUE(files.is_run());
  files.clear();
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  EXPECT_TRUE(fs::exists(out / "report.json.tmp.mine"));  // not a temporary of clues's naming
  EXPECT_TRUE(fs::exists(files.marker()));
  EXPECT_FALSE(fs::exists(out / "checkpoints"));
  EXPECT_FALSE(fs::exists(out / "model"));
  EXPECT_FALSE(fs::exists(out / "report.json.tmp.123"));
}

TEST(AgreeOnErrors, ASerialCommRethrowsWhatTheStepThrew) {
  const Comm serial = Comm::serial();
  EXPECT_NO_THROW(agree_on_errors(serial, [] {}));
  try {
    agree_on_errors(serial, [] { throw NumericalError("diverged"); });
    FAIL();
  } catch (const NumericalError& e) {
    EXPECT_STREQ(e.what(), "diverged");
    EXPECT_FALSE(e.every_rank());
  }
}

TEST(ConfigSafety, EpsilonBelowFloat32IsRefused) {
  Config c;
  c.silos = {{"s", "s.jsonl"}};
  c.validation = c.anchor = "v.jsonl";
  c.out = "out";
  c.train.eps = 1e-300;  // 0 in float32: Adam would divide by zero
  EXPECT_THROW(c.validate(), InputError);
  c.train.eps = 1e-8;
  EXPECT_NO_THROW(c.validate());
}
