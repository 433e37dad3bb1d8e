// SSIM and MS-SSIM; the definition is in include/hrvq/ms_ssim.hpp.
#include "hrvq/ms_ssim.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hrvq/error.hpp"

// Identical inputs give exactly 1 because every term is computed the same way for both
// images (2a == a + a in floating point). Fused multiply-adds would round the two sides of
// each ratio differently, so keep the compiler from contracting.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace hrvq {

namespace {

constexpr int kWindow = 11;
constexpr int kRadius = kWindow / 2;
constexpr double kSigma = 1.5;
constexpr double kDataRange = 255.0;
constexpr double kC1 = (0.01 * kDataRange) * (0.01 * kDataRange);
constexpr double kC2 = (0.03 * kDataRange) * (0.03 * kDataRange);
constexpr int kMaxScales = 5;
constexpr std::array<double, kMaxScales> kWeights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

std::array<double, kWindow> gaussian_taps() {
  std::array<double, kWindow> g{};
  double sum = 0;
  for (int i = 0; i < kWindow; ++i) {
    const double d = i - kRadius;
    g[i] = std::exp(-(d * d) / (2 * kSigma * kSigma));
    sum += g[i];
  }
  for (double& v : g) v /= sum;
  return g;
}

const std::array<double, kWindow>& taps() {
  static const std::array<double, kWindow> g = gaussian_taps();
  return g;
}

struct Plane {
  int width = 0;
  int height = 0;
  std::vector<double> v;  // row-major
};

Plane channel_plane(const Image& image, int channel) {
  Plane p;
  p.width = image.width;
  p.height = image.height;
  const size_t n = static_cast<size_t>(image.width) * image.height;
  p.v.resize(n);
  const uint8_t* src = image.pixels.data() + channel;
  for (size_t i = 0; i < n; ++i) p.v[i] = src[i * image.channels];
  return p;
}

// pytorch_msssim: F.avg_pool2d(kernel_size=2, stride=2, padding=(H%2, W%2)), zeros
// counted. Output (i, j) averages input rows 2i-ph, 2i-ph+1 and columns 2j-pw, 2j-pw+1.
Plane downsample(const Plane& in) {
  const int ph = in.height % 2, pw = in.width % 2;
  Plane out;
  out.height = (in.height + ph) / 2;
  out.width = (in.width + pw) / 2;
  out.v.assign(static_cast<size_t>(out.width) * out.height, 0.0);
  auto at = [&](int y, int x) {
    return (y < 0 || x < 0) ? 0.0 : in.v[static_cast<size_t>(y) * in.width + x];
  };
  for (int i = 0; i < out.height; ++i) {
    const int y = 2 * i - ph;
    for (int j = 0; j < out.width; ++j) {
      const int x = 2 * j - pw;
      out.v[static_cast<size_t>(i) * out.width + j] =
          ((at(y, x) + at(y, x + 1)) + (at(y + 1, x) + at(y + 1, x + 1))) / 4.0;
    }
  }
  return out;
}

struct ScaleStats {
  double ssim = 0;  // mean of l * cs over the valid map
  double cs = 0;    // mean of cs
};

// Local statistics by a separable 'valid' Gaussian: rows first into five (H x W-10)
// buffers (x, y, xx, yy, xy), then columns, one output row at a time.
ScaleStats scale_stats(const Plane& x, const Plane& y) {
  const std::array<double, kWindow>& g = taps();
  const int w = x.width, h = x.height;
  const int ow = w - (kWindow - 1), oh = h - (kWindow - 1);
  const size_t ows = static_cast<size_t>(ow);
  enum { X, Y, XX, YY, XY, kQuantities };
  std::vector<double> rows(kQuantities * static_cast<size_t>(h) * ows);
  auto row_buf = [&](int q, int r) { return rows.data() + (static_cast<size_t>(q) * h + r) * ows; };

  std::vector<double> xx(w), yy(w), xy(w);
  for (int r = 0; r < h; ++r) {
    const double* xr = x.v.data() + static_cast<size_t>(r) * w;
    const double* yr = y.v.data() + static_cast<size_t>(r) * w;
    for (int i = 0; i < w; ++i) {
      xx[i] = xr[i] * xr[i];
      yy[i] = yr[i] * yr[i];
      xy[i] = xr[i] * yr[i];
    }
    const double* src[kQuantities] = {xr, yr, xx.data(), yy.data(), xy.data()};
    for (int q = 0; q < kQuantities; ++q) {
      double* out = row_buf(q, r);
      const double* s = src[q];
      for (int i = 0; i < ow; ++i) out[i] = g[0] * s[i];
      for (int k = 1; k < kWindow; ++k) {
        const double gk = g[k];
        const double* sk = s + k;
        for (int i = 0; i < ow; ++i) out[i] += gk * sk[i];
      }
    }
  }

  std::vector<double> f(kQuantities * ows);
  double sum_ssim = 0, sum_cs = 0;
  for (int r = 0; r < oh; ++r) {
    for (int q = 0; q < kQuantities; ++q) {
      double* out = f.data() + q * ows;
      const double* s0 = row_buf(q, r);
      for (int i = 0; i < ow; ++i) out[i] = g[0] * s0[i];
      for (int k = 1; k < kWindow; ++k) {
        const double gk = g[k];
        const double* sk = row_buf(q, r + k);
        for (int i = 0; i < ow; ++i) out[i] += gk * sk[i];
      }
    }
    const double* mx = f.data() + X * ows;
    const double* my = f.data() + Y * ows;
    const double* fxx = f.data() + XX * ows;
    const double* fyy = f.data() + YY * ows;
    const double* fxy = f.data() + XY * ows;
    double row_ssim = 0, row_cs = 0;
    for (int i = 0; i < ow; ++i) {
      const double mxx = mx[i] * mx[i], myy = my[i] * my[i], mxy = mx[i] * my[i];
      const double sxx = fxx[i] - mxx, syy = fyy[i] - myy, sxy = fxy[i] - mxy;
      const double cs = (2.0 * sxy + kC2) / (sxx + syy + kC2);
      const double l = (2.0 * mxy + kC1) / (mxx + myy + kC1);
      row_cs += cs;
      row_ssim += l * cs;
    }
    sum_ssim += row_ssim;
    sum_cs += row_cs;
  }
  const double n = static_cast<double>(ow) * oh;
  return {sum_ssim / n, sum_cs / n};
}

void check_pair(const Image& a, const Image& b, const char* what) {
  for (const Image* im : {&a, &b})
    if (im->width < 0 || im->height < 0 || (im->channels != 1 && im->channels != 3) ||
        im->pixels.size() != static_cast<size_t>(im->width) * im->height * im->channels)
      throw Error(fmt::format("{}: invalid image ({}x{}, {} channels, {} bytes)", what, im->width, im->height,
                              im->channels, im->pixels.size()));
  if (a.width != b.width || a.height != b.height || a.channels != b.channels)
    throw Error(fmt::format("{}: images differ in size", what));
  if (a.width < kWindow || a.height < kWindow)
    throw Error(fmt::format("{}: image smaller than the {}x{} window", what, kWindow, kWindow));
}

}  // namespace

int ms_ssim_scales(int width, int height) {
  const int side = std::min(width, height);
  int scales = 0;
  // Scale j (1-based) holds ceil(side / 2^(j-1)) samples; it needs >= kWindow of them.
  while (scales < kMaxScales && side > (kWindow - 1) * (1 << scales)) ++scales;
  return scales;
}

double ms_ssim(const Image& reference, const Image& distorted) {
  check_pair(reference, distorted, "ms-ssim");
  const int scales = ms_ssim_scales(reference.width, reference.height);
  std::array<double, kMaxScales> weights = kWeights;
  if (scales < kMaxScales) {
    double sum = 0;
    for (int j = 0; j < scales; ++j) sum += kWeights[j];
    for (int j = 0; j < scales; ++j) weights[j] = kWeights[j] / sum;
  }
  double total = 0;
  for (int c = 0; c < reference.channels; ++c) {
    Plane x = channel_plane(reference, c);
    Plane y = channel_plane(distorted, c);
    double product = 1.0;
    for (int j = 0; j < scales; ++j) {
      const ScaleStats s = scale_stats(x, y);
      const bool last = j == scales - 1;
      product *= std::pow(std::max(last ? s.ssim : s.cs, 0.0), weights[j]);
      if (!last) {
        x = downsample(x);
        y = downsample(y);
      }
    }
    total += product;
  }
  return total / reference.channels;
}

double ssim(const Image& reference, const Image& distorted) {
  check_pair(reference, distorted, "ssim");
  double total = 0;
  for (int c = 0; c < reference.channels; ++c)
    total += scale_stats(channel_plane(reference, c), channel_plane(distorted, c)).ssim;
  return total / reference.channels;
}

}  // namespace hrvq
