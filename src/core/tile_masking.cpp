#include "hrvq/tile_masking.hpp"

#include <algorithm>
#include <cmath>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

// The window: 31 x 31 pixels. MS-SSIM weighs the structure of coarser scales most, and on
// 12 BSDS500 validation photos (docs/adaptive-tuning.md) windows of 15 and 31 pixels
// gained twice as much MS-SSIM at equal size as SSIM's own 7, and 63 less.
constexpr int kRadius = 15;
constexpr double kC2 = (0.03 * 255.0) * (0.03 * 255.0);

// Summed-area tables of one channel's samples and squares, (w + 1) x (h + 1).
struct Integral {
  std::vector<double> sum, sq;
  size_t stride = 0;
  Integral(const Image& im, int c) : sum(size_t(im.width + 1) * (im.height + 1)), sq(sum.size()), stride(im.width + 1) {
    const size_t C = static_cast<size_t>(im.channels);
    for (int y = 0; y < im.height; ++y) {
      double row = 0, row_sq = 0;
      for (int x = 0; x < im.width; ++x) {
        const double v = im.pixels[(size_t(y) * im.width + x) * C + c];
        row += v;
        row_sq += v * v;
        sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row;
        sq[(y + 1) * stride + x + 1] = sq[y * stride + x + 1] + row_sq;
      }
    }
  }
  // Variance over the box [x0, x1) x [y0, y1).
  double variance(int x0, int y0, int x1, int y1) const {
    auto at = [&](const std::vector<double>& t, int x, int y) { return t[size_t(y) * stride + x]; };
    const double n = double(x1 - x0) * (y1 - y0);
    const double s = at(sum, x1, y1) - at(sum, x0, y1) - at(sum, x1, y0) + at(sum, x0, y0);
    const double q = at(sq, x1, y1) - at(sq, x0, y1) - at(sq, x1, y0) + at(sq, x0, y0);
    return std::max(0.0, q / n - (s / n) * (s / n));
  }
};

}  // namespace

std::vector<double> ssim_tile_weights(const Image& image, uint32_t tile_px, uint32_t tiles_x, uint32_t tiles_y,
                                      double strength) {
  if (image.width <= 0 || image.height <= 0 || image.channels <= 0 ||
      image.pixels.size() != size_t(image.width) * image.height * image.channels)
    throw Error("ssim_tile_weights: the image is empty or its size is inconsistent");
  if (tile_px == 0 || uint64_t(tiles_x) * tile_px < uint64_t(image.width) ||
      uint64_t(tiles_y) * tile_px < uint64_t(image.height))
    throw Error("ssim_tile_weights: the tiles do not cover the image");
  if (!(strength >= 0.0 && strength <= 1.0)) throw Error("ssim_tile_weights: strength must be in [0, 1]");
  std::vector<double> weight(size_t(tiles_x) * tiles_y, 0.0), pixels(weight.size(), 0.0);
  std::vector<Integral> channels;
  for (int c = 0; c < image.channels; ++c) channels.emplace_back(image, c);
  for (int y = 0; y < image.height; ++y) {
    const int y0 = std::max(0, y - kRadius), y1 = std::min(image.height, y + kRadius + 1);
    for (int x = 0; x < image.width; ++x) {
      const int x0 = std::max(0, x - kRadius), x1 = std::min(image.width, x + kRadius + 1);
      double var = 0;
      for (const auto& ch : channels) var += ch.variance(x0, y0, x1, y1);
      var /= double(image.channels);
      const size_t t = size_t(y / tile_px) * tiles_x + x / tile_px;
      weight[t] += 1.0 / (2.0 * var + kC2);
      pixels[t] += 1;
    }
  }
  double mean = 0;
  size_t counted = 0;
  for (size_t t = 0; t < weight.size(); ++t) {
    if (pixels[t] > 0) {
      weight[t] = std::pow(weight[t] / pixels[t], strength);
      mean += weight[t];
      ++counted;
    }
  }
  mean /= double(std::max<size_t>(counted, 1));
  // Tiles past the image (a latent grid padded beyond it) have no error to weigh.
  for (size_t t = 0; t < weight.size(); ++t) weight[t] = pixels[t] > 0 ? weight[t] / mean : 0.0;
  return weight;
}

}  // namespace hrvq
