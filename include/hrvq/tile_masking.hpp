// Per-tile weights that turn a depth map's squared error into an SSIM-like error, for
// `--adaptive-tune ssim`. SSIM's contrast-structure term between an image x and its
// reconstruction y is (2 s_xy + C2) / (s_x^2 + s_y^2 + C2); for a small error e = y - x
// independent of x, 1 minus it is close to var(e) / (2 s_x^2 + C2). So an error costs
// SSIM in inverse proportion to the local variance around it: a depth map chosen on
// SSE alone takes maps from flat areas (sky, walls) where the error is small in pixels
// but plain to see, and gives them to texture that hides it. Weighting each tile's
// SSE by the mean of 1 / (2 s^2 + C2) over its pixels makes the choice spend bits where
// SSIM counts them.
#pragma once
#include <cstdint>
#include <vector>

#include "hrvq/image.hpp"

namespace hrvq {

// One weight per tile of tile_px x tile_px pixels (tiles_x x tiles_y of them, row-major,
// the last row and column cut by the image's edge), normalised to mean 1 over the tiles.
// s^2 is the variance of each channel in a 31 x 31 window around the pixel (cut at the
// edges), averaged over the channels; C2 = (0.03 * 255)^2, SSIM's constant for 8-bit
// samples. `strength` in [0, 1] blends: weight^strength (0: all 1, plain SSE).
std::vector<double> ssim_tile_weights(const Image& image, uint32_t tile_px, uint32_t tiles_x, uint32_t tiles_y,
                                      double strength = 1.0);

}  // namespace hrvq
