// SSIM / MS-SSIM: properties, errors, and agreement with tests/python/ms_ssim_reference.py,
// an independent NumPy/SciPy implementation of the pytorch_msssim definition.
#include "hrvq/ms_ssim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "hrvq/error.hpp"
#include "hrvq/image.hpp"

namespace fs = std::filesystem;

namespace {

using hrvq::Error;
using hrvq::Image;

const char* kPython = "/usr/bin/python3";

// hrvq_core_tests is given HRVQ_TESTDATA (the source tree's testdata/); the torch tests
// also get HRVQ_SOURCE_DIR. Either locates tests/python/.
std::string source_dir() {
#ifdef HRVQ_SOURCE_DIR
  return HRVQ_SOURCE_DIR;
#else
  return std::string(HRVQ_TESTDATA) + "/..";
#endif
}

Image blank(int width, int height, int channels) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.assign(static_cast<size_t>(width) * height * channels, 0);
  return img;
}

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::lround(std::max(0.0, std::min(255.0, v)))); }

// A smooth picture: gradients, waves and a soft blob, different per channel.
Image smooth_image(int width, int height, int channels) {
  Image img = blank(width, height, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double fx = x / double(width), fy = y / double(height);
        double blob = std::exp(-((fx - 0.6) * (fx - 0.6) + (fy - 0.4) * (fy - 0.4)) * 20);
        double v = 110 + 60 * std::sin(9.0 * fx + 2 * c) * std::cos(7.0 * fy) + 40 * (fx - fy) + 60 * blob +
                   15 * std::sin(0.9 * x + 0.4 * y + c);
        img.pixels[(static_cast<size_t>(y) * width + x) * channels + c] = clamp8(v);
      }
  return img;
}

// Random but smooth: uniform noise blurred by repeated 5-tap box filters (wrapping), then
// stretched to fill most of 0..255.
Image random_smooth_image(int width, int height, int channels, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  Image img = blank(width, height, channels);
  for (int c = 0; c < channels; ++c) {
    std::vector<double> p(static_cast<size_t>(width) * height);
    for (double& v : p) v = dist(rng);
    for (int pass = 0; pass < 3; ++pass) {
      std::vector<double> q(p.size());
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          double s = 0;
          for (int d = -2; d <= 2; ++d) s += p[static_cast<size_t>(y) * width + (x + d + width) % width];
          q[static_cast<size_t>(y) * width + x] = s / 5;
        }
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          double s = 0;
          for (int d = -2; d <= 2; ++d) s += q[static_cast<size_t>((y + d + height) % height) * width + x];
          p[static_cast<size_t>(y) * width + x] = s / 5;
        }
    }
    auto [lo, hi] = std::minmax_element(p.begin(), p.end());
    const double a = *lo, b = *hi;
    for (size_t i = 0; i < p.size(); ++i)
      img.pixels[i * channels + c] = clamp8(10 + 235 * (p[i] - a) / (b - a));
  }
  return img;
}

// The same image plus Gaussian noise of standard deviation `amplitude`; the noise field is
// the same for every amplitude (same seed), only scaled.
Image add_noise(const Image& img, double amplitude, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  Image out = img;
  for (auto& p : out.pixels) p = clamp8(p + amplitude * dist(rng));
  return out;
}

// A 3x3 box blur (edges clamped): a structured, non-noise distortion.
Image box_blur(const Image& img) {
  Image out = img;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < img.channels; ++c) {
        int s = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            s += img.at(std::clamp(y + dy, 0, img.height - 1), std::clamp(x + dx, 0, img.width - 1), c);
        out.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + c] = static_cast<uint8_t>((s + 4) / 9);
      }
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- properties

TEST(MsSsim, IdenticalImagesGiveExactlyOne) {
  for (int channels : {1, 3})
    for (auto [w, h] : {std::pair{200, 180}, std::pair{481, 321}, std::pair{64, 64}, std::pair{11, 11},
                        std::pair{163, 170}}) {
      Image img = random_smooth_image(w, h, channels, w + channels);
      EXPECT_EQ(hrvq::ms_ssim(img, img), 1.0) << w << "x" << h << "x" << channels;
      EXPECT_EQ(hrvq::ssim(img, img), 1.0) << w << "x" << h << "x" << channels;
    }
  // Flat images too: zero variance, the constants keep the ratios at 1.
  Image flat = blank(40, 30, 3);
  EXPECT_EQ(hrvq::ms_ssim(flat, flat), 1.0);
  EXPECT_EQ(hrvq::ssim(flat, flat), 1.0);
}

TEST(MsSsim, DecreasesAsNoiseGrows) {
  for (int channels : {1, 3}) {
    Image ref = smooth_image(200, 180, channels);
    double prev_ms = 1.0, prev_ss = 1.0;
    for (double amplitude : {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0}) {
      Image noisy = add_noise(ref, amplitude, 7);
      const double ms = hrvq::ms_ssim(ref, noisy), ss = hrvq::ssim(ref, noisy);
      EXPECT_LT(ms, prev_ms) << "amplitude " << amplitude << ", " << channels << " channels";
      EXPECT_LT(ss, prev_ss) << "amplitude " << amplitude << ", " << channels << " channels";
      EXPECT_GT(ms, 0.0) << "amplitude " << amplitude;
      prev_ms = ms;
      prev_ss = ss;
    }
    EXPECT_LT(prev_ms, 0.7) << channels << " channels";  // heavy noise is clearly visible
  }
}

TEST(MsSsim, SymmetricAndInRange) {
  Image a = random_smooth_image(200, 180, 3, 1);
  for (const Image& b : {add_noise(a, 12, 3), box_blur(a), random_smooth_image(200, 180, 3, 2)}) {
    const double ab = hrvq::ms_ssim(a, b), ba = hrvq::ms_ssim(b, a);
    EXPECT_NEAR(ab, ba, 1e-12);
    EXPECT_GE(ab, 0.0);
    EXPECT_LT(ab, 1.0);
    EXPECT_NEAR(hrvq::ssim(a, b), hrvq::ssim(b, a), 1e-12);
    EXPECT_LE(hrvq::ssim(a, b), 1.0);
    EXPECT_GE(hrvq::ssim(a, b), -1.0);
  }
}

TEST(MsSsim, NegativeContrastStructureIsClampedToZero) {
  // The negative of an image has negative covariance at every scale: relu gives 0.
  Image a = random_smooth_image(200, 180, 3, 5);
  Image neg = a;
  for (auto& p : neg.pixels) p = static_cast<uint8_t>(255 - p);
  EXPECT_EQ(hrvq::ms_ssim(a, neg), 0.0);
  EXPECT_LT(hrvq::ssim(a, neg), 0.0);  // single-scale SSIM is not clamped
}

TEST(MsSsim, ScalesFollowTheSmallerSide) {
  EXPECT_EQ(hrvq::ms_ssim_scales(10, 500), 0);
  EXPECT_EQ(hrvq::ms_ssim_scales(11, 11), 1);
  EXPECT_EQ(hrvq::ms_ssim_scales(20, 20), 1);
  EXPECT_EQ(hrvq::ms_ssim_scales(21, 300), 2);
  EXPECT_EQ(hrvq::ms_ssim_scales(40, 40), 2);
  EXPECT_EQ(hrvq::ms_ssim_scales(41, 41), 3);
  EXPECT_EQ(hrvq::ms_ssim_scales(64, 64), 3);
  EXPECT_EQ(hrvq::ms_ssim_scales(81, 100), 4);
  EXPECT_EQ(hrvq::ms_ssim_scales(160, 1000), 4);  // pytorch_msssim refuses this size
  EXPECT_EQ(hrvq::ms_ssim_scales(161, 161), 5);
  EXPECT_EQ(hrvq::ms_ssim_scales(481, 321), 5);
  EXPECT_EQ(hrvq::ms_ssim_scales(4000, 3000), 5);
}

TEST(MsSsim, SmallImagesUseFewerScales) {
  for (auto [w, h] : {std::pair{64, 64}, std::pair{11, 11}, std::pair{30, 25}, std::pair{100, 90}}) {
    Image a = smooth_image(w, h, 3);
    double prev = 1.0;
    for (double amplitude : {3.0, 10.0, 30.0}) {
      const double v = hrvq::ms_ssim(a, add_noise(a, amplitude, 11));
      EXPECT_GT(v, 0.0) << w << "x" << h << " amplitude " << amplitude;
      EXPECT_LE(v, 1.0) << w << "x" << h << " amplitude " << amplitude;
      EXPECT_LT(v, prev) << w << "x" << h << " amplitude " << amplitude;
      prev = v;
    }
  }
  // One scale is max(SSIM, 0).
  Image a = smooth_image(15, 20, 1), b = add_noise(a, 10, 2);
  EXPECT_DOUBLE_EQ(hrvq::ms_ssim(a, b), std::max(0.0, hrvq::ssim(a, b)));
}

TEST(MsSsim, ErrorsAreReported) {
  Image a = smooth_image(64, 48, 3);
  EXPECT_EQ(error_of([&] { hrvq::ms_ssim(a, smooth_image(64, 49, 3)); }), "ms-ssim: images differ in size");
  EXPECT_EQ(error_of([&] { hrvq::ms_ssim(a, smooth_image(63, 48, 3)); }), "ms-ssim: images differ in size");
  EXPECT_EQ(error_of([&] { hrvq::ms_ssim(a, smooth_image(64, 48, 1)); }), "ms-ssim: images differ in size");
  EXPECT_EQ(error_of([&] { hrvq::ssim(a, smooth_image(48, 64, 3)); }), "ssim: images differ in size");
  Image tiny = smooth_image(10, 40, 3);
  EXPECT_EQ(error_of([&] { hrvq::ms_ssim(tiny, tiny); }), "ms-ssim: image smaller than the 11x11 window");
  EXPECT_EQ(error_of([&] { hrvq::ssim(tiny, tiny); }), "ssim: image smaller than the 11x11 window");
  Image empty;
  EXPECT_THROW(hrvq::ms_ssim(empty, empty), Error);
  Image broken = a;
  broken.pixels.pop_back();
  EXPECT_EQ(error_of([&] { hrvq::ms_ssim(broken, broken); }).rfind("ms-ssim: invalid image", 0), 0u);
}

TEST(MsSsim, RealPhotoAgainstItsJpeg) {
  // Speed is measured in bench/, not here; this checks a real photo lands where it should.
  Image photo = hrvq::read_image(std::string(HRVQ_TESTDATA) + "/photos/bsds500-test-108004.jpg");
  const std::vector<uint8_t> q30 = hrvq::encode_jpeg(photo, 30), q90 = hrvq::encode_jpeg(photo, 90);
  const double low = hrvq::ms_ssim(photo, hrvq::decode_image(q30.data(), q30.size(), "q30"));
  const double high = hrvq::ms_ssim(photo, hrvq::decode_image(q90.data(), q90.size(), "q90"));
  EXPECT_GT(low, 0.8);
  EXPECT_LT(low, high);
  EXPECT_LT(high, 1.0);
}

// ---- agreement with the NumPy/SciPy reference

// Writes binary PGM (1 channel) or PPM (3 channels).
void write_pnm(const Image& img, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << (img.channels == 1 ? "P5" : "P6") << "\n" << img.width << " " << img.height << "\n255\n";
  out.write(reinterpret_cast<const char*>(img.pixels.data()), static_cast<std::streamsize>(img.pixels.size()));
}

class MsSsimReference : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system((std::string(kPython) + " -c 'import numpy, scipy.signal' >/dev/null 2>&1").c_str()) != 0)
      GTEST_SKIP() << kPython << " with numpy and scipy is not available";
    script_ = source_dir() + "/tests/python/ms_ssim_reference.py";
    ASSERT_TRUE(fs::exists(script_)) << script_;
    dir_ = fs::temp_directory_path() / ("hrvq_ms_ssim_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // Runs the reference on the pair; returns {ms_ssim, ssim}.
  std::pair<double, double> reference(const Image& a, const Image& b) {
    const std::string pa = (dir_ / "a.pnm").string(), pb = (dir_ / "b.pnm").string();
    const std::string log = (dir_ / "out.txt").string();
    write_pnm(a, pa);
    write_pnm(b, pb);
    const std::string cmd = std::string(kPython) + " '" + script_ + "' '" + pa + "' '" + pb + "' > '" + log + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(rc, 0) << "ms_ssim_reference.py failed: " << ss.str();
    double ms = -1, single = -1;
    ss.seekg(0);
    ss >> ms >> single;
    EXPECT_TRUE(ss) << "unexpected output: " << ss.str();
    return {ms, single};
  }

  void expect_agreement(const Image& a, const Image& b, const std::string& what) {
    const auto [ref_ms, ref_ssim] = reference(a, b);
    const double ms = hrvq::ms_ssim(a, b), single = hrvq::ssim(a, b);
    EXPECT_NEAR(ms, ref_ms, 1e-6) << what;
    EXPECT_NEAR(single, ref_ssim, 1e-6) << what;
    std::printf("%-22s ms-ssim %.12f (|diff| %.1e)  ssim %.12f (|diff| %.1e)\n", what.c_str(), ms,
                std::abs(ms - ref_ms), single, std::abs(single - ref_ssim));
  }

  std::string script_;
  fs::path dir_;
};

TEST_F(MsSsimReference, RandomSmoothRgb200x180) {
  Image a = random_smooth_image(200, 180, 3, 21);
  Image b = random_smooth_image(200, 180, 3, 22);
  expect_agreement(a, b, "rgb 200x180 unrelated");
  expect_agreement(a, add_noise(box_blur(a), 6, 23), "rgb 200x180 blur+noise");
}

TEST_F(MsSsimReference, RandomSmoothGray200x180) {
  Image a = random_smooth_image(200, 180, 1, 31);
  expect_agreement(a, add_noise(a, 9, 32), "gray 200x180 noise");
  expect_agreement(a, random_smooth_image(200, 180, 1, 33), "gray 200x180 unrelated");
}

TEST_F(MsSsimReference, OddSizesAndFewerScales) {
  // Odd sides at every scale (avg_pool padding), and the renormalised 4-, 3-, 2- and 1-scale cases.
  for (auto [w, h, c] : {std::tuple{203, 161, 3}, std::tuple{161, 203, 1}, std::tuple{99, 85, 3},
                         std::tuple{64, 64, 3}, std::tuple{37, 23, 1}, std::tuple{13, 11, 3}}) {
    Image a = random_smooth_image(w, h, c, w * 7 + h);
    const std::string what = std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c) + " (" +
                             std::to_string(hrvq::ms_ssim_scales(w, h)) + " scales)";
    expect_agreement(a, add_noise(box_blur(a), 8, w), what);
  }
}

TEST_F(MsSsimReference, NegativeStructure) {
  Image a = random_smooth_image(200, 180, 3, 41);
  Image neg = a;
  for (auto& p : neg.pixels) p = static_cast<uint8_t>(255 - p);
  expect_agreement(a, neg, "rgb 200x180 negative");
}

}  // namespace
