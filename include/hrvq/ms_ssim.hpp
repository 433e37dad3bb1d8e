// Image quality: SSIM and MS-SSIM (Wang, Simoncelli & Bovik 2003), computed as the
// widely used reference pytorch_msssim computes them (its ssim() and ms_ssim() with
// data_range=255, the default window, K and weights; TensorFlow's tf.image.ssim_multiscale
// uses the same formulas but pads odd sizes differently before downsampling, see below).
// tests/python/ms_ssim_reference.py is an independent NumPy/SciPy implementation of
// exactly what is written here.
//
// Definition, on each channel separately (RGB is not converted to luma), in double:
//   L = 255, C1 = (0.01 L)^2, C2 = (0.03 L)^2.
//   g = 11-tap Gaussian, sigma 1.5, g[i] = exp(-(i-5)^2 / (2 sigma^2)) / sum, i = 0..10;
//   the window is g (x) g, applied as a 'valid' correlation (no padding): an H x W plane
//   gives (H-10) x (W-10) local statistics.
//   mu_x = g*x, mu_y = g*y, s_xx = g*(x x) - mu_x^2, s_yy = g*(y y) - mu_y^2,
//   s_xy = g*(x y) - mu_x mu_y   (no (N-1)/N compensation)
//   l  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
//   cs = (2 s_xy + C2) / (s_xx + s_yy + C2)
//   SSIM(x, y) = mean over the valid map of l * cs;  CS(x, y) = mean of cs.
// MS-SSIM with scales j = 1..M (M = 5 for images whose smaller side is > 160 pixels):
//   per channel  P = prod_{j<M} max(CS_j, 0)^w_j  *  max(SSIM_M, 0)^w_M
//   result       = mean of P over the channels,
//   w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) for M = 5 (used as published, although
//   they sum to 1.0001).
// Downsampling between scales is pytorch_msssim's F.avg_pool2d(kernel 2, stride 2,
// padding = (H % 2, W % 2), count_include_pad=True): an even side halves exactly; an odd
// side n gives (n+1)/2 samples, output k averaging inputs 2k-1 and 2k with input -1 read
// as 0 (so the first row/column is an average with a zero); every 2x2 sum is divided by 4.
//
// Images too small for 5 scales are not an error: M is the largest number in 1..5 for
// which the smaller side is > 10 * 2^(M-1) (i.e. >= 11, 21, 41, 81, 161 pixels for M = 1..5),
// which is exactly when the coarsest scale still holds an 11x11 window. The first M weights
// are then renormalised to sum to 1, and the coarsest used scale contributes l * cs as
// scale 5 does; M = 1 is max(SSIM, 0).
//
// Errors (hrvq::Error): "ms-ssim: images differ in size" when width, height or channels
// differ; "ms-ssim: image smaller than the 11x11 window" when a side is < 11 pixels;
// "ms-ssim: invalid image (...)" when channels is not 1 or 3 or pixels has the wrong
// length. ssim() throws the same with the prefix "ssim:".
#pragma once
#include "hrvq/image.hpp"

namespace hrvq {

// Multi-scale SSIM in [0, 1]; exactly 1 for identical images. Symmetric in its arguments.
double ms_ssim(const Image& reference, const Image& distorted);

// Single-scale mean SSIM (the definition above, not clamped: in [-1, 1]), averaged over
// the channels; exactly 1 for identical images.
double ssim(const Image& reference, const Image& distorted);

// Number of scales ms_ssim uses for a width x height image (1..5), or 0 when a side is
// smaller than the 11x11 window (ms_ssim then throws).
int ms_ssim_scales(int width, int height);

}  // namespace hrvq
