// Full-reference quality of a decoded image against its original: MSE, PSNR and MS-SSIM
// on the 8-bit samples, the figures `hrvq eval image` and the codec benchmarks report.
// Torch-free.
#pragma once
#include <string>

#include "hrvq/image.hpp"

namespace hrvq {

// PSNR in dB of two images of equal size and channels (infinity when identical).
double psnr(const Image& a, const Image& b);

struct ImageQuality {
  double mse = 0;      // mean squared error over all samples, 8-bit scale
  double psnr = 0;     // dB, 10 log10(255^2 / mse)
  double ms_ssim = 0;  // ms_ssim.hpp
};

// Throws hrvq::Error "ref vs img: ..." when the images differ in size or channels.
ImageQuality measure_quality(const Image& reference, const Image& image, const std::string& names = "");

}  // namespace hrvq
