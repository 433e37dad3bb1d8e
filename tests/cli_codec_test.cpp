// hrvq encode / decode / info driven through the real binary: files, folders, pipes,
// partial failure, overwriting, and damaged or hostile bitstreams.
#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/image.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include "codec_support.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/file_io.hpp"

namespace hrvq {
namespace {

using codec_test::make_model;
using codec_test::TempDir;
using codec_test::test_image;
using codec_test::tiny_config;

using Result = test::CommandResult;
using test::count_lines;
using test::slurp;

// A minimal 8-bit RGBA PNG (the library writes only gray and RGB).
std::vector<uint8_t> rgba_png_file(uint32_t w, uint32_t h) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
  };
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(png, uint32_t(data.size()));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    png.insert(png.end(), body.begin(), body.end());
    be32(png, crc32(body.data(), body.size()));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, w);
  be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 6, 0, 0, 0});
  std::vector<uint8_t> raw;
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);
    for (uint32_t x = 0; x < w; ++x) raw.insert(raw.end(), {uint8_t(40 * x), uint8_t(50 * y), 99, uint8_t(20 * x)});
  }
  uLongf size = compressBound(uLong(raw.size()));
  std::vector<uint8_t> z(size);
  compress(z.data(), &size, raw.data(), uLong(raw.size()));
  z.resize(size);
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", {});
  return png;
}

class CliCodecTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_dir = new TempDir;
    std::filesystem::create_directories(suite_dir->path / "bundled");
    model = make_model(*suite_dir / "bundled/photo.hrvqm", tiny_config(), 1);
    other = make_model(*suite_dir / "other.hrvqm", tiny_config(), 2);
    gray = make_model(*suite_dir / "gray.hrvqm", tiny_config(QuantizerKind::Hr, 1), 3);
  }
  static void TearDownTestSuite() {
    delete suite_dir;
    suite_dir = nullptr;
  }

  // Runs hrvq with the suite's bundled folder as the only model search path.
  Result hrvq(const std::string& args, const std::string& stdin_path = "/dev/null") {
    return test::run("HRVQ_MODEL_PATH=" + (*suite_dir / "bundled") + " " + HRVQ_BINARY + " " + args, stdin_path);
  }

  std::string png(const std::string& name, int w, int h, int c = 3, uint32_t seed = 1) {
    std::string path = dir / name;
    write_image(test_image(w, h, c, seed), path, ImageFormat::Png);
    return path;
  }

  static TempDir* suite_dir;
  static std::string model, other, gray;
  TempDir dir;
};

TempDir* CliCodecTest::suite_dir = nullptr;
std::string CliCodecTest::model, CliCodecTest::other, CliCodecTest::gray;

TEST_F(CliCodecTest, RoundTripThroughFiles) {
  std::string in = png("a.png", 21, 13);
  auto r = hrvq("encode -m " + model + " " + in + " -o " + (dir / "a.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "b.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Image out = read_image(dir / "b.png");
  EXPECT_EQ(out.width, 21);
  EXPECT_EQ(out.height, 13);
  // Without -m: the bundled default for encoding, the fingerprint's model for decoding.
  r = hrvq("encode " + in + " -o " + (dir / "c.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(dir / "c.hrvq"), slurp(dir / "a.hrvq"));
  r = hrvq("decode " + (dir / "c.hrvq") + " -o " + (dir / "c.jpg"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(dir / "c.jpg").substr(0, 2), "\xFF\xD8");
  r = hrvq("-v encode " + in + " -o " + (dir / "d.hrvq") + " --coder zstd --layers 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("PSNR"), std::string::npos) << r.err;
}

TEST_F(CliCodecTest, AdaptiveOption) {
  // The real model's gain is tested in adaptive_rate_test.cpp; here the command line.
  std::string in = png("a.png", 48, 40);
  auto r = hrvq("encode --adaptive --adaptive-tile 2 -q 50 -m " + model + " " + in + " -o " + (dir / "a.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("encode -q 50 -m " + model + " " + in + " -o " + (dir / "u.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(slurp(dir / "a.hrvq").size(), slurp(dir / "u.hrvq").size());
  r = hrvq("decode " + (dir / "a.hrvq") + " -o " + (dir / "out.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_image(dir / "out.png").width, 48);
  r = hrvq("encode --adaptive-tile 0 --adaptive -m " + model + " " + in + " -o " + (dir / "b.hrvq"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "b.hrvq"));
  // The exact search (every candidate decoded) writes a file of the same format and budget.
  r = hrvq("encode --adaptive --adaptive-tile 2 --adaptive-decodes 9 -q 50 -m " + model + " " + in + " -o " +
           (dir / "e.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(slurp(dir / "e.hrvq").size(), slurp(dir / "u.hrvq").size());
  r = hrvq("encode --adaptive --adaptive-tile 2 --adaptive-tune ssim -q 50 -m " + model + " " + in + " -o " +
           (dir / "s.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(slurp(dir / "s.hrvq").size(), slurp(dir / "u.hrvq").size());
  r = hrvq("encode --adaptive --adaptive-tune butteraugli -m " + model + " " + in + " -o " + (dir / "t.hrvq"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--adaptive-tune"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "t.hrvq"));
  r = hrvq("encode --adaptive --adaptive-decodes 65 -m " + model + " " + in + " -o " + (dir / "c.hrvq"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--adaptive-decodes"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "c.hrvq"));
  const std::string vq = make_model(dir / "vq.hrvqm", tiny_config(QuantizerKind::Vq), 4);
  r = hrvq("encode --adaptive -m " + vq + " " + in + " -o " + (dir / "v.hrvq"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--adaptive needs an hr or rvq model"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "v.hrvq"));
}

TEST_F(CliCodecTest, PrecisionOption) {
  std::string in = png("a.png", 40, 24);
  auto r = hrvq("encode -m " + model + " " + in + " -o " + (dir / "a.hrvq") + " --precision bf16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A bf16 file is an ordinary file: the default (fp32) decoder reads it, and so does bf16.
  r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "fp32.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "b.png") + " --precision bf16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_image(dir / "b.png").width, 40);
  r = hrvq("encode -m " + model + " " + in + " -o " + (dir / "x.hrvq") + " --precision fp16");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--precision"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.hrvq"));
}

TEST_F(CliCodecTest, PngLevelChangesOnlyTheFileSize) {
  std::string in = png("a.png", 64, 48);
  ASSERT_EQ(hrvq("encode -m " + model + " " + in + " -o " + (dir / "a.hrvq")).exit_code, 0);
  auto r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "fast.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "small.png") + " --png-level 9");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_image(dir / "fast.png").pixels, read_image(dir / "small.png").pixels);
  EXPECT_NE(slurp(dir / "fast.png"), slurp(dir / "small.png"));
  r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "x.png") + " --png-level 10");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--png-level"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.png"));
}

TEST_F(CliCodecTest, FolderModeAndSeveralModels) {
  std::string a = png("a.png", 16, 16, 3, 1), b = png("b.png", 12, 20, 3, 2), g = png("g.png", 8, 8, 1, 3);
  auto r = hrvq("encode -m " + model + " " + a + " " + b + " -d " + (dir / "enc") + " -j 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("encode -m " + gray + " " + g + " -d " + (dir / "enc"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each file names its model; the decoder picks it among those given.
  r = hrvq("decode -m " + other + " -m " + gray + " -m " + model + " " + (dir / "enc/a.hrvq") + " " +
           (dir / "enc/b.hrvq") + " " + (dir / "enc/g.hrvq") + " -d " + (dir / "dec") + " --format png");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_image(dir / "dec/b.png").height, 20);
  EXPECT_EQ(read_image(dir / "dec/g.png").channels, 1);
  // -o names one output only.
  r = hrvq("encode " + a + " " + b + " -o " + (dir / "x.hrvq"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-o takes one input"), std::string::npos) << r.err;
}

// Without -j several inputs run in parallel (one job per compute thread); the files and
// the decoded pixels must not depend on how the inputs were scheduled.
TEST_F(CliCodecTest, ParallelDefaultWritesWhatOneJobWrites) {
  std::vector<std::string> ins;
  for (int i = 0; i < 5; ++i) ins.push_back(png("p" + std::to_string(i) + ".png", 12 + 4 * i, 20 - 2 * i, 3, 10 + i));
  std::string list;
  for (auto& in : ins) list += " " + in;
  auto r = hrvq("--threads 2 encode -m " + model + list + " -d " + (dir / "par"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("encode -j 1 -m " + model + list + " -d " + (dir / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string streams;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "p" + std::to_string(i);
    EXPECT_EQ(slurp(dir / ("par/" + name + ".hrvq")), slurp(dir / ("one/" + name + ".hrvq"))) << name;
    streams += " " + (dir / ("one/" + name + ".hrvq"));
  }
  r = hrvq("--threads 2 decode -m " + model + streams + " -d " + (dir / "dpar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("decode -j 1 -m " + model + streams + " -d " + (dir / "done"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "p" + std::to_string(i) + ".png";
    EXPECT_EQ(read_image(dir / ("dpar/" + name)).pixels, read_image(dir / ("done/" + name)).pixels) << name;
  }
}

TEST_F(CliCodecTest, StdinAndStdout) {
  std::string in = png("a.png", 10, 9);
  auto r = hrvq("encode - -o " + (dir / "file.hrvq"), in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = hrvq("encode - -o -", in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, slurp(dir / "file.hrvq"));
  r = hrvq("decode - -o -", dir / "file.hrvq");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(1, 3), "PNG");
  r = hrvq("decode " + (dir / "file.hrvq") + " -o " + (dir / "out.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliCodecTest, OneFailingInputDoesNotStopTheOthers) {
  std::string a = png("a.png", 8, 8), b = png("b.png", 8, 12);
  write_file_atomic(dir / "bad.png", std::vector<uint8_t>{'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  auto r = hrvq("encode " + a + " " + (dir / "bad.png") + " " + b + " -d " + (dir / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("hrvq: " + (dir / "bad.png") + ": not a PNG or JPEG image", 0), 0u) << r.err;
  EXPECT_TRUE(file_exists(dir / "out/a.hrvq"));
  EXPECT_TRUE(file_exists(dir / "out/b.hrvq"));
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path / "out")) files += e.is_regular_file();
  EXPECT_EQ(files, 2u) << "no partial or temporary output";
  r = hrvq("decode " + (dir / "out/a.hrvq") + " " + b + " -d " + (dir / "dec"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad magic"), std::string::npos) << r.err;
  EXPECT_TRUE(file_exists(dir / "dec/a.png"));
  // Two inputs with one output name: the second fails rather than replace the first.
  std::filesystem::create_directories(dir.path / "sub");
  std::filesystem::copy_file(b, dir / "sub/a.png");
  r = hrvq("encode " + a + " " + (dir / "sub/a.png") + " -d " + (dir / "same") + " --force");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sub/a.png: its output " + (dir / "same/a.hrvq") + " is also"), std::string::npos) << r.err;
  EXPECT_EQ(parse_bitstream(read_file(dir / "same/a.hrvq"), "x").header.height, 8u);
}

TEST_F(CliCodecTest, ExistingOutputNeedsForce) {
  std::string a = png("a.png", 8, 8);
  ASSERT_EQ(hrvq("encode " + a + " -o " + (dir / "a.hrvq")).exit_code, 0);
  auto r = hrvq("encode " + a + " -o " + (dir / "a.hrvq") + " --coder raw");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exists (use --force to overwrite)"), std::string::npos) << r.err;
  EXPECT_EQ(parse_bitstream(read_file(dir / "a.hrvq"), "x").header.coder, Coder::RansCtx);
  r = hrvq("encode " + a + " -o " + (dir / "a.hrvq") + " --coder raw --force");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_bitstream(read_file(dir / "a.hrvq"), "x").header.coder, Coder::Raw);
}

// Every prefix and every single-bit flip of a small file: a decoded image or one clean
// error line, never a crash. One process decodes them all (it reports each failure and
// goes on), and a few prefixes are also checked alone for their exit status.
TEST_F(CliCodecTest, PrefixesAndBitFlipsFailCleanly) {
  std::string a = png("a.png", 8, 8);
  ASSERT_EQ(hrvq("encode " + a + " -o " + (dir / "a.hrvq")).exit_code, 0);
  auto bytes = read_file(dir / "a.hrvq");
  auto parsed = parse_bitstream(bytes, "x");
  std::filesystem::create_directories(dir.path / "cut");
  std::filesystem::create_directories(dir.path / "flip");
  std::string cuts, flips;
  for (size_t n = 0; n <= bytes.size(); ++n) {
    std::string p = dir / fmt::format("cut/p{:04}.hrvq", n);
    write_file_atomic(p, bytes.data(), n);
    cuts += " " + p;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= uint8_t(1u << (i % 8));
    std::string p = dir / fmt::format("flip/f{:04}.hrvq", i);
    write_file_atomic(p, copy);
    flips += " " + p;
  }
  for (const auto& [list, folder] : {std::pair{cuts, "cutout"}, std::pair{flips, "flipout"}}) {
    auto r = hrvq("-q decode" + list + " -d " + (dir / folder));
    ASSERT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    size_t decoded = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path / folder)) decoded += e.is_regular_file();
    size_t inputs = std::count(list.begin(), list.end(), ' ');
    EXPECT_EQ(decoded + count_lines(r.err), inputs) << r.err;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) EXPECT_EQ(line.rfind("hrvq: " + dir.path.string(), 0), 0u) << line;
  }
  // The layer boundaries decode (progressively); a cut inside the header does not.
  const size_t first_end = parsed.segment_offsets[0] + parsed.segments[0].size();
  for (size_t n : {size_t(0), size_t(10), size_t(40), size_t(47), first_end, first_end + 3, bytes.size()}) {
    auto r = hrvq(fmt::format("decode {} -o {} --force", dir / fmt::format("cut/p{:04}.hrvq", n), dir / "one.png"));
    ASSERT_EQ(r.signal, 0);
    EXPECT_EQ(r.exit_code, n >= first_end ? 0 : 1) << n << ": " << r.err;
    if (n >= first_end && n < bytes.size()) EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  }
}

TEST_F(CliCodecTest, WrongModelIsNamed) {
  std::string a = png("a.png", 8, 8);
  ASSERT_EQ(hrvq("encode -m " + other + " " + a + " -o " + (dir / "a.hrvq")).exit_code, 0);
  auto r = hrvq("decode -m " + model + " " + (dir / "a.hrvq") + " -o " + (dir / "decoded.png"));
  EXPECT_EQ(r.exit_code, 1);
  uint64_t want = parse_bitstream(read_file(dir / "a.hrvq"), "x").header.model_fingerprint;
  EXPECT_NE(r.err.find(fmt::format("made with model {:016x} but the model is", want)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(model), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(dir / "decoded.png"));
}

// Headers a valid encoder never writes, with correct CRCs so that the field checks
// (not the checksum) must catch them.
TEST_F(CliCodecTest, HostileHeaderDimensions) {
  auto bytes = read_file(model);
  BitstreamHeader h;
  h.model_fingerprint = fingerprint64(bytes.data(), bytes.size());
  h.width = h.height = 8;
  h.channels = 3;
  h.downsample = 4;
  h.grid_w = h.grid_h = 2;
  h.coder = Coder::Raw;
  h.codes = 4;
  h.layers = 3;
  h.layers_present = 1;
  auto valid = write_bitstream(h, {std::vector<uint8_t>(1, 0)});
  auto patch = [&](uint32_t w, uint32_t hh, uint16_t gw, uint16_t gh) {
    auto b = valid;
    std::memcpy(&b[16], &w, 4);
    std::memcpy(&b[20], &hh, 4);
    std::memcpy(&b[24], &gw, 2);
    std::memcpy(&b[26], &gh, 2);
    uint32_t crc = crc32(b.data(), 36);
    std::memcpy(&b[36], &crc, 4);
    return b;
  };
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Case> cases = {{"zero", patch(0, 8, 0, 2)},
                             {"huge", patch(65535, 65535, 16384, 16384)},
                             {"wide", patch(1u << 20, 8, 16384, 2)},
                             {"limit", patch(65535, 4096, 16384, 1024)}};
  for (auto& c : cases) {
    write_file_atomic(dir / (c.name + ".hrvq"), c.bytes);
    auto r = hrvq("decode " + (dir / (c.name + ".hrvq")) + " -o " + (dir / (c.name + ".png")));
    EXPECT_EQ(r.signal, 0) << c.name;
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << c.name << ": " << r.err;
    EXPECT_FALSE(file_exists(dir / (c.name + ".png")));
  }
  write_file_atomic(dir / "ok.hrvq", valid);
  auto r = hrvq("decode " + (dir / "ok.hrvq") + " -o " + (dir / "ok.png"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliCodecTest, BadInputsAndOutputs) {
  std::string a = png("a.png", 8, 8);
  auto r = hrvq("encode " + std::string(HRVQ_TESTDATA) + "/datasets/folder/notes.txt -o " + (dir / "n.hrvq"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a PNG or JPEG image"), std::string::npos) << r.err;
  r = hrvq("encode " + (dir / "missing.png") + " -o " + (dir / "n.hrvq"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;

  std::filesystem::create_directories(dir.path / "ro");
  ::chmod((dir / "ro").c_str(), 0555);
  bool writable = ::access((dir / "ro").c_str(), W_OK) == 0;  // root writes anyway
  if (!writable) {
    r = hrvq("encode " + a + " -d " + (dir / "ro"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("ro/a.hrvq"), std::string::npos) << r.err;
  }
  ::chmod((dir / "ro").c_str(), 0755);

  // An RGBA image loses its alpha with a warning; -q silences it.
  std::vector<uint8_t> rgba_png = rgba_png_file(5, 4);
  write_file_atomic(dir / "rgba.png", rgba_png);
  r = hrvq("encode " + (dir / "rgba.png") + " -o " + (dir / "rgba.hrvq"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + (dir / "rgba.png") + ": alpha channel dropped"), std::string::npos) << r.err;
  r = hrvq("-q encode " + (dir / "rgba.png") + " -o " + (dir / "rgba.hrvq") + " --force");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliCodecTest, RateOptionsOnTheCommandLine) {
  std::string a = png("a.png", 32, 24);
  // No rate option is -q 40: 1 + round(0.4 * 2) = 2 of the test model's 3 maps.
  ASSERT_EQ(hrvq("encode " + a + " -o " + (dir / "d.hrvq")).exit_code, 0);
  EXPECT_NE(hrvq("info " + (dir / "d.hrvq")).out.find("layers:       2 of 2 complete"), std::string::npos);
  ASSERT_EQ(hrvq("encode -q 100 " + a + " -o " + (dir / "q.hrvq")).exit_code, 0);
  EXPECT_NE(hrvq("info " + (dir / "q.hrvq")).out.find("3 of 3 complete"), std::string::npos);
  // Rate options exclude each other, and a bad value is a one-line error with no output.
  for (const char* bad : {"-q 50 --bpp 1", "--bpp 1 --psnr 30", "-q 50 --layers 2", "-q 101", "--bpp -1", "--beam 0"}) {
    auto r = hrvq(std::string("encode ") + bad + " " + a + " -o " + (dir / "x.hrvq"));
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_FALSE(std::filesystem::exists(dir / "x.hrvq")) << bad;
  }
  auto r = hrvq("encode --bpp 0.0001 " + a + " -o " + (dir / "x.hrvq"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("cannot meet --bpp"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.hrvq"));
  // --quiet after the command silences warnings as the global -q does.
  r = hrvq("encode --psnr 99 --quiet " + a + " -o " + (dir / "p.hrvq"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = hrvq("encode --psnr 99 " + a + " -o " + (dir / "p.hrvq") + " --force");
  EXPECT_NE(r.err.find("out of reach"), std::string::npos) << r.err;
}

TEST_F(CliCodecTest, InfoDescribesABitstream) {
  std::string a = png("a.png", 16, 8);
  ASSERT_EQ(hrvq("encode -q 100 " + a + " -o " + (dir / "a.hrvq")).exit_code, 0);
  auto r = hrvq("info " + (dir / "a.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hrvq bitstream"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("16x8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer 3:"), std::string::npos) << r.out;
  r = hrvq("info --json " + (dir / "a.hrvq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("{\"format\":\"hrvq-bitstream\"", 0), 0u) << r.out;
  r = hrvq("info " + model);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace hrvq
