// FID against pytorch-fid without its weights: tests/python/fid_reference.py builds
// a Python re-implementation of pytorch-fid's FIDInceptionV3 with random weights,
// saves them with torch.save, and computes features and scipy-based distances that
// the C++ side must reproduce.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "hrvq/error.hpp"
#include "hrvq/fid.hpp"
#include "inception.hpp"
#include "state_dict_reader.hpp"

namespace fs = std::filesystem;

namespace {

const char* kPython = "/usr/bin/python3";

// Fixtures are made once per test binary run, in a temporary folder removed at exit.
struct Fixtures {
  bool ok = false;
  std::string why;
  fs::path dir;

  Fixtures() {
    if (std::system((std::string(kPython) + " -c 'import torch, scipy, numpy' >/dev/null 2>&1").c_str()) != 0) {
      why = "/usr/bin/python3 with torch, scipy and numpy is not available";
      return;
    }
    dir = fs::temp_directory_path() / ("hrvq_fid_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string cmd = std::string(kPython) + " " + HRVQ_SOURCE_DIR + "/tests/python/fid_reference.py fixtures " +
                            dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream log(dir / "log.txt");
      std::stringstream ss;
      ss << log.rdbuf();
      why = "fid_reference.py failed: " + ss.str();
      return;
    }
    ok = true;
  }
  ~Fixtures() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

const Fixtures& fixtures() {
  static Fixtures f;
  return f;
}

#define REQUIRE_FIXTURES()                              \
  const Fixtures& fx = fixtures();                      \
  if (!fx.ok) GTEST_SKIP() << fx.why;                   \
  static_cast<void>(fx)

template <typename T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) { return read_raw<uint8_t>(path); }

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hrvq::Error& e) {
    return e.what();
  }
  return "(no error)";
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST(FidFrechet, MatchesScipyReference) {
  REQUIRE_FIXTURES();
  for (int k = 0; k < 2; ++k) {
    std::ifstream info(fx.path("frechet_" + std::to_string(k) + ".txt"));
    int64_t na = 0, nb = 0, d = 0;
    double expected = 0;
    info >> na >> nb >> d >> expected;
    ASSERT_TRUE(info) << "frechet_" << k << ".txt";
    const auto a = read_raw<float>(fx.path("frechet_" + std::to_string(k) + "_a.f32"));
    const auto b = read_raw<float>(fx.path("frechet_" + std::to_string(k) + "_b.f32"));
    ASSERT_EQ(static_cast<int64_t>(a.size()), na * d);
    ASSERT_EQ(static_cast<int64_t>(b.size()), nb * d);
    const hrvq::FidStatistics sa = hrvq::fid_statistics_from_features(a.data(), na, d);
    const hrvq::FidStatistics sb = hrvq::fid_statistics_from_features(b.data(), nb, d);
    EXPECT_EQ(sa.count, na);

    // Mean and covariance as numpy's mean and cov(rowvar=False).
    const auto mu = read_raw<double>(fx.path("frechet_" + std::to_string(k) + "_mu.f64"));
    const auto sigma = read_raw<double>(fx.path("frechet_" + std::to_string(k) + "_sigma.f64"));
    // numpy's mean of float32 features is float32; ours is float64.
    EXPECT_LT(max_abs_diff(sa.mu, mu), 1e-6);
    EXPECT_LT(max_abs_diff(sa.sigma, sigma), 1e-12);

    const double fid = hrvq::frechet_distance(sa, sb);
    const double rel = std::abs(fid - expected) / std::abs(expected);
    std::printf("[ frechet %d ] hrvq %.12g scipy %.12g relative error %.3g\n", k, fid, expected, rel);
    EXPECT_LT(rel, 1e-6) << "case " << k;
    EXPECT_NEAR(hrvq::frechet_distance(sa, sa), 0.0, 1e-7 * std::abs(expected));
  }
}

TEST(FidFrechet, RejectsMismatchedStatistics) {
  hrvq::FidStatistics a, b;
  a.mu = {0, 0};
  a.sigma = {1, 0, 0, 1};
  b.mu = {0, 0, 0};
  b.sigma.assign(9, 0);
  EXPECT_NE(error_of([&] { hrvq::frechet_distance(a, b); }).find("dimension 2 and 3"), std::string::npos);
  b.mu = {0, 0};
  EXPECT_NE(error_of([&] { hrvq::frechet_distance(a, b); }).find("malformed"), std::string::npos);
}

TEST(FidStatisticsFile, RoundTripsAndRejectsCorruption) {
  const fs::path dir = fs::temp_directory_path() / ("hrvq_fid_stats_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "s.fidstats").string();
  hrvq::FidStatistics s;
  s.count = 12345;
  const int d = 5;
  for (int i = 0; i < d; ++i) s.mu.push_back(0.1 * i - 0.25);
  for (int i = 0; i < d * d; ++i) s.sigma.push_back(std::sin(i) * 1e-3 + (i % (d + 1) == 0));
  hrvq::save_fid_statistics(s, path);
  EXPECT_TRUE(hrvq::is_fid_statistics_file(path));
  const hrvq::FidStatistics t = hrvq::load_fid_statistics(path);
  EXPECT_EQ(t.count, s.count);
  EXPECT_EQ(t.mu, s.mu);
  EXPECT_EQ(t.sigma, s.sigma);

  std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<uint8_t> corrupt = bytes;
  corrupt[40] ^= 1;
  write_bytes(path, corrupt);
  EXPECT_NE(error_of([&] { hrvq::load_fid_statistics(path); }).find("CRC"), std::string::npos);
  write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end() - 9));
  EXPECT_NE(error_of([&] { hrvq::load_fid_statistics(path); }).find("truncated"), std::string::npos);
  std::vector<uint8_t> huge = bytes;
  huge[12] = 0xFF;
  huge[13] = 0xFF;
  write_bytes(path, huge);
  EXPECT_NE(error_of([&] { hrvq::load_fid_statistics(path); }).find("out of range"), std::string::npos);
  write_bytes(path, {'n', 'o', 'p', 'e'});
  EXPECT_FALSE(hrvq::is_fid_statistics_file(path));
  EXPECT_NE(error_of([&] { hrvq::load_fid_statistics(path); }).find("not an hrvq FID statistics file"), std::string::npos);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(StateDict, ZipAndLegacyFormatsAgree) {
  REQUIRE_FIXTURES();
  const hrvq::StateDict zip = hrvq::read_state_dict(fx.path("weights.pth"));
  const hrvq::StateDict legacy = hrvq::read_state_dict(fx.path("weights_legacy.pth"));
  ASSERT_EQ(zip.size(), legacy.size());
  EXPECT_EQ(zip.count("Mixed_7c.branch_pool.conv.weight"), 1u);
  EXPECT_EQ(zip.at("fc.weight").sizes(), torch::IntArrayRef({1008, 2048}));
  EXPECT_EQ(zip.at("Conv2d_1a_3x3.bn.num_batches_tracked").dtype(), torch::kLong);
  EXPECT_EQ(zip.at("Conv2d_1a_3x3.bn.num_batches_tracked").dim(), 0);
  EXPECT_EQ(zip.at("Conv2d_1a_3x3.bn.num_batches_tracked").item<int64_t>(), 7);
  for (const auto& [key, t] : zip) {
    ASSERT_EQ(legacy.count(key), 1u) << key;
    EXPECT_TRUE(torch::equal(t, legacy.at(key))) << key;
  }
}

TEST(StateDict, ReadsViewsStridesAndDtypes) {
  REQUIRE_FIXTURES();
  for (const char* file : {"small.pth", "small_legacy.pth"}) {
    SCOPED_TRACE(file);
    const hrvq::StateDict sd = hrvq::read_state_dict(fx.path(file));
    ASSERT_EQ(sd.size(), 8u);
    EXPECT_TRUE(torch::equal(sd.at("view"), torch::tensor({2.f, 3.f, 4.f})));
    EXPECT_TRUE(torch::equal(sd.at("base"), torch::arange(10, torch::kFloat)));
    EXPECT_TRUE(torch::equal(sd.at("transposed"), torch::arange(12, torch::kFloat).reshape({3, 4}).t()));
    EXPECT_TRUE(torch::equal(sd.at("double"), torch::tensor({0.5, -1.25}, torch::kDouble)));
    EXPECT_EQ(sd.at("half").dtype(), torch::kHalf);
    EXPECT_TRUE(torch::equal(sd.at("half").to(torch::kFloat), torch::tensor({1.5f, 2.f})));
    EXPECT_TRUE(torch::equal(sd.at("flags"), torch::tensor({true, false, true})));
    EXPECT_EQ(sd.at("count").dim(), 0);
    EXPECT_EQ(sd.at("count").item<int64_t>(), 42);
    EXPECT_EQ(sd.at("empty").sizes(), torch::IntArrayRef({0, 3}));
  }
}

TEST(StateDict, RejectsTruncatedAndCorruptFiles) {
  REQUIRE_FIXTURES();
  for (const char* file : {"small.pth", "small_legacy.pth"}) {
    const std::vector<uint8_t> bytes = read_bytes(fx.path(file));
    const std::string name = file;
    // Every prefix of the file fails, with a message naming it.
    for (size_t keep = 0; keep < bytes.size(); ++keep) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + keep);  // exact size for sanitizers
      const std::string msg = error_of([&] { hrvq::read_state_dict(cut.data(), cut.size(), name); });
      ASSERT_EQ(msg.rfind(name + ": ", 0), 0u) << keep << ": " << msg;
      ASSERT_TRUE(msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos ||
                  msg.find("not a torch.save") != std::string::npos || msg.find("pickle") != std::string::npos)
          << keep << ": " << msg;
    }
    // Any single corrupt byte either is caught or leaves a well-formed result.
    int rejected = 0;
    for (size_t at = 0; at < bytes.size(); ++at) {
      std::vector<uint8_t> c = bytes;
      c[at] ^= 0xA5;
      try {
        hrvq::read_state_dict(c.data(), c.size(), name);
      } catch (const hrvq::Error& e) {
        ASSERT_EQ(std::string(e.what()).rfind(name + ": ", 0), 0u) << e.what();
        ++rejected;
      }
    }
    EXPECT_GT(rejected, static_cast<int>(bytes.size() / 4)) << name;
  }
  // The real file's size: truncated in its storages, and a flipped byte caught by the zip CRC.
  {
    const std::vector<uint8_t> bytes = read_bytes(fx.path("weights_legacy.pth"));
    EXPECT_NE(error_of([&] { hrvq::read_state_dict(bytes.data(), bytes.size() / 2, "w"); }).find("truncated"),
              std::string::npos);
  }
  {
    std::vector<uint8_t> c = read_bytes(fx.path("weights.pth"));
    EXPECT_NE(error_of([&] { hrvq::read_state_dict(c.data(), c.size() - 30, "w"); }).find("truncated"),
              std::string::npos);
    c[c.size() / 2] ^= 0x01;
    EXPECT_NE(error_of([&] { hrvq::read_state_dict(c.data(), c.size(), "w"); }).find("CRC mismatch"), std::string::npos);
  }
  // Only the classes a state_dict needs may be named.
  EXPECT_NE(error_of([&] { hrvq::read_state_dict(fx.path("not_tensors.pth")); }).find("unsupported global 'datetime.date'"),
            std::string::npos);
  // Hand-made pickles: an unknown opcode, and a tensor that reaches past its storage.
  std::vector<uint8_t> legacy = read_bytes(fx.path("small_legacy.pth"));
  std::vector<uint8_t> bad(legacy.begin(), legacy.begin() + 137);  // magic, version, sys_info
  for (char ch : std::string("I1\n.")) bad.push_back(static_cast<uint8_t>(ch));  // INT opcode
  EXPECT_NE(error_of([&] { hrvq::read_state_dict(bad.data(), bad.size(), "w"); }).find("unsupported opcode 0x49"),
            std::string::npos);
}

TEST(StateDict, RejectsOutOfBoundsTensor) {
  REQUIRE_FIXTURES();
  // Patch the legacy pickle of the first tensor (4-d conv weight, storage 864 floats):
  // its storage offset BININT1 0 becomes 1, so the last element falls off the end.
  std::vector<uint8_t> bytes = read_bytes(fx.path("weights_legacy.pth"));
  const std::string needle("\x51\x4b\x00\x28", 4);  // BINPERSID, BININT1 0, MARK
  auto it = std::search(bytes.begin() + 137, bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(it, bytes.end());
  *(it + 2) = 1;
  EXPECT_NE(error_of([&] { hrvq::read_state_dict(bytes.data(), bytes.size(), "w"); }).find("beyond its storage"),
            std::string::npos);
}

TEST(Inception, LoadChecksKeysAndShapes) {
  REQUIRE_FIXTURES();
  const std::string src = "INCEPTION";
  hrvq::StateDict sd = hrvq::read_state_dict(fx.path("weights.pth"));
  {
    hrvq::FidInceptionV3 net;
    net->load_weights(sd, src);  // the full file, with fc and num_batches_tracked
  }
  hrvq::StateDict missing = sd;
  missing.erase("Mixed_7c.branch_pool.conv.weight");
  EXPECT_EQ(error_of([&] { hrvq::FidInceptionV3()->load_weights(missing, src); }),
            "INCEPTION: missing key 'Mixed_7c.branch_pool.conv.weight'");
  hrvq::StateDict extra = sd;
  extra.emplace("AuxLogits.fc.weight", torch::zeros({2}));
  EXPECT_NE(error_of([&] { hrvq::FidInceptionV3()->load_weights(extra, src); }).find("unexpected key 'AuxLogits.fc.weight'"),
            std::string::npos);
  hrvq::StateDict shaped = sd;
  shaped["Mixed_5b.branch1x1.bn.running_var"] = torch::ones({65});
  EXPECT_EQ(error_of([&] { hrvq::FidInceptionV3()->load_weights(shaped, src); }),
            "INCEPTION: key 'Mixed_5b.branch1x1.bn.running_var' has shape [65], expected [64]");
  hrvq::StateDict no_counter = sd;
  for (auto it = no_counter.begin(); it != no_counter.end();)
    it = it->first.find("num_batches_tracked") != std::string::npos ? no_counter.erase(it) : std::next(it);
  hrvq::FidInceptionV3()->load_weights(no_counter, src);
}

TEST(Inception, FeaturesMatchPythonReference) {
  REQUIRE_FIXTURES();
  std::vector<hrvq::Image> images;
  std::ifstream manifest(fx.path("images.txt"));
  int w, h, c;
  std::string file;
  while (manifest >> w >> h >> c >> file) {
    hrvq::Image im;
    im.width = w;
    im.height = h;
    im.channels = c;
    im.pixels = read_bytes(fx.path(file));
    ASSERT_EQ(im.pixels.size(), static_cast<size_t>(w) * h * c);
    images.push_back(std::move(im));
  }
  ASSERT_EQ(images.size(), 3u);
  const auto expected = read_raw<float>(fx.path("features.f32"));
  ASSERT_EQ(expected.size(), 3u * 2048);

  hrvq::FidOptions options;
  options.batch_size = 2;  // two batches: 2 + 1
  options.device = "cpu";
  hrvq::FidExtractor fid(options);
  fid.load(fx.path("weights_legacy.pth"));
  const std::vector<float> got = fid.features(images);
  ASSERT_EQ(got.size(), expected.size());
  double max_diff = 0, max_ref = 0, max_rel = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::abs(static_cast<double>(got[i]) - expected[i]);
    max_diff = std::max(max_diff, diff);
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
    max_rel = std::max(max_rel, diff / std::max(std::abs(static_cast<double>(expected[i])), 1e-2));
  }
  std::printf("[ inception ] max |diff| %.3g, max |ref| %.3g, relative to max %.3g, elementwise (floor 1e-2) %.3g\n",
              max_diff, max_ref, max_diff / max_ref, max_rel);
  EXPECT_LT(max_diff / max_ref, 1e-4);
  EXPECT_LT(max_rel, 1e-4);

  // Accumulated statistics equal those of the features.
  fid.add(images);
  EXPECT_EQ(fid.count(), 3);
  const hrvq::FidStatistics s = fid.statistics();
  const hrvq::FidStatistics r = hrvq::fid_statistics_from_features(expected.data(), 3, 2048);
  EXPECT_EQ(s.count, 3);
  double mu_diff = 0;
  for (size_t i = 0; i < s.mu.size(); ++i) mu_diff = std::max(mu_diff, std::abs(s.mu[i] - r.mu[i]));
  EXPECT_LT(mu_diff, 1e-4 * max_ref);
}

TEST(Inception, MissingWeightsExplainHowToGetThem) {
  const std::string msg = error_of([] { hrvq::find_inception_weights("/nonexistent/pt_inception.pth"); });
  EXPECT_NE(msg.find("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                     "pt_inception-2015-12-05-6726825d.pth"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--inception PATH"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HRVQ_INCEPTION"), std::string::npos) << msg;
  hrvq::FidExtractor fid(hrvq::FidOptions{4, "cpu"});
  EXPECT_NE(error_of([&] { fid.load("/nonexistent/w.pth"); }).find("HRVQ_INCEPTION"), std::string::npos);
}
