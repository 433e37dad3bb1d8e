#include "hrvq/image_quality.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "hrvq/error.hpp"
#include "hrvq/ms_ssim.hpp"

namespace hrvq {

namespace {

double mean_squared_error(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double e = double(a.pixels[i]) - double(b.pixels[i]);
    sum += e * e;
  }
  return a.pixels.empty() ? 0.0 : sum / double(a.pixels.size());
}

bool same_shape(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.channels == b.channels && a.pixels.size() == b.pixels.size();
}

}  // namespace

double psnr(const Image& a, const Image& b) {
  if (!same_shape(a, b)) throw Error("psnr: images differ in size");
  const double mse = mean_squared_error(a, b);
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

ImageQuality measure_quality(const Image& reference, const Image& image, const std::string& names) {
  const std::string prefix = names.empty() ? std::string() : names + ": ";
  if (!same_shape(reference, image))
    throw Error(fmt::format("{}images differ: {}x{}x{} against {}x{}x{}", prefix, reference.width, reference.height,
                            reference.channels, image.width, image.height, image.channels));
  ImageQuality q;
  q.mse = mean_squared_error(reference, image);
  q.psnr = q.mse == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / q.mse);
  try {
    q.ms_ssim = ms_ssim(reference, image);
  } catch (const Error& e) {
    throw Error(prefix + e.what());
  }
  return q;
}

}  // namespace hrvq
