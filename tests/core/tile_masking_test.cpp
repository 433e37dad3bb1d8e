// SSIM-like tile weights for the depth-map encoder: flat tiles weigh more than textured
// ones, in the ratio SSIM's contrast term gives.
#include "hrvq/tile_masking.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

// Left half a flat grey, right half a 0/255 checkerboard: two tiles of 96 x 96 pixels.
Image flat_and_checkerboard(int channels) {
  Image im;
  im.width = 192;
  im.height = 96;
  im.channels = channels;
  im.pixels.resize(size_t(im.width) * im.height * channels);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      for (int c = 0; c < channels; ++c)
        im.pixels[(size_t(y) * im.width + x) * channels + c] = x < 96 ? 128 : ((x + y) % 2 ? 255 : 0);
  return im;
}

TEST(TileMasking, FlatTilesWeighMoreInSsimsRatio) {
  for (int channels : {1, 3}) {
    const auto w = ssim_tile_weights(flat_and_checkerboard(channels), 96, 2, 1);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_NEAR(w[0] + w[1], 2.0, 1e-9) << "normalised to mean 1";
    // Inside the checkerboard a 31 x 31 window holds 481 and 480 pixels of 0 and 255:
    // s^2 = 255^2 * 481 * 480 / 961^2, so 1 / (2 s^2 + C2) is 1/557 of the flat tile's
    // 1 / C2. The windows that straddle the two halves (15 of 96 columns on each side)
    // lower the ratio.
    const double c2 = std::pow(0.03 * 255, 2), s2 = 255.0 * 255.0 * 481 * 480 / (961.0 * 961.0);
    const double inner = c2 / (2 * s2 + c2);
    EXPECT_GT(w[0] / w[1], 0.5 / inner);
    EXPECT_LT(w[0] / w[1], 1.01 / inner);
  }
}

TEST(TileMasking, StrengthBlendsTowardsPlainSquaredError) {
  const Image im = flat_and_checkerboard(3);
  const auto full = ssim_tile_weights(im, 96, 2, 1, 1.0), half = ssim_tile_weights(im, 96, 2, 1, 0.5),
             none = ssim_tile_weights(im, 96, 2, 1, 0.0);
  EXPECT_DOUBLE_EQ(none[0], 1.0);
  EXPECT_DOUBLE_EQ(none[1], 1.0);
  EXPECT_NEAR(half[0] / half[1], std::sqrt(full[0] / full[1]), 1e-9 * full[0] / full[1]);
}

TEST(TileMasking, TilesPastTheImageWeighNothing) {
  // A latent grid padded past the image: the third column of tiles has no pixels.
  Image im = flat_and_checkerboard(1);
  const auto w = ssim_tile_weights(im, 96, 3, 2);
  ASSERT_EQ(w.size(), 6u);
  for (size_t t : {2u, 3u, 4u, 5u}) EXPECT_EQ(w[t], 0.0) << t;
  EXPECT_NEAR(w[0] + w[1], 2.0, 1e-9) << "the mean is over the tiles that hold pixels";
}

TEST(TileMasking, AnImageOfOneTextureWeighsAllTilesAlike) {
  Image im = flat_and_checkerboard(1);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < 96; ++x) im.pixels[size_t(y) * im.width + x] = (x + y) % 2 ? 255 : 0;
  const auto w = ssim_tile_weights(im, 48, 4, 2);
  for (double v : w) EXPECT_NEAR(v, 1.0, 0.05);
}

TEST(TileMasking, RejectsBadArguments) {
  const Image im = flat_and_checkerboard(1);
  EXPECT_THROW(ssim_tile_weights(im, 0, 2, 1), Error);
  EXPECT_THROW(ssim_tile_weights(im, 96, 1, 1), Error) << "tiles that do not cover the width";
  EXPECT_THROW(ssim_tile_weights(im, 96, 2, 1, 1.5), Error);
  EXPECT_THROW(ssim_tile_weights(im, 96, 2, 1, std::nan("")), Error);
  Image bad = im;
  bad.pixels.pop_back();
  EXPECT_THROW(ssim_tile_weights(bad, 96, 2, 1), Error);
}

}  // namespace
}  // namespace hrvq
