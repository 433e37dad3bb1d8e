// Estimating each tile's pixel error at the depths that were not decoded, from the
// depths that were and a latent-space proxy.
#include "hrvq/tile_distortion.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

// n + 1 proxy values per tile, falling with depth, different in every tile.
std::vector<std::vector<double>> falling_proxy(size_t tiles, int n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.2, 1.0);
  std::vector<std::vector<double>> q(static_cast<size_t>(n + 1), std::vector<double>(tiles, 0.0));
  for (size_t t = 0; t < tiles; ++t) {
    double v = 0;
    for (int d = n - 1; d >= 0; --d) q[d][t] = v += u(rng);
  }
  return q;
}

TEST(TileDistortion, RecoversTheAffineModelFromTwoDecodes) {
  // When every tile's error is ceiling + alpha * q(d), two decodes give every other
  // depth exactly, between them and beyond them, whatever each tile's ceiling and slope.
  std::mt19937 rng(7);
  const size_t tiles = 20;
  const int n = 16;
  const auto q = falling_proxy(tiles, n, rng);
  std::uniform_real_distribution<double> ceiling(10, 500), alpha(1, 300);
  std::vector<double> c(tiles), a(tiles);
  for (size_t t = 0; t < tiles; ++t) c[t] = ceiling(rng), a[t] = alpha(rng);
  auto truth = [&](int d) {
    std::vector<double> e(tiles);
    for (size_t t = 0; t < tiles; ++t) e[t] = c[t] + a[t] * q[d][t];
    return e;
  };
  const std::vector<int> depths = {3, 4, 5, 6, 7, 8, 9, 10, 11};
  const auto est = estimate_tile_sse(tiles, depths, q, {{5, truth(5)}, {9, truth(9)}});
  ASSERT_EQ(est.size(), tiles * depths.size());
  for (size_t t = 0; t < tiles; ++t)
    for (size_t i = 0; i < depths.size(); ++i)
      EXPECT_NEAR(est[t * depths.size() + i], truth(depths[i])[t], 1e-6 * truth(depths[i])[t]) << t << " " << depths[i];
}

TEST(TileDistortion, MapWeightsReshapeTheProxy) {
  // The decoder turns map j's latent energy into w_j times as much pixel error: with the
  // weights, two decodes again give every depth exactly; without them they do not.
  std::mt19937 rng(11);
  const size_t tiles = 12;
  const int n = 8;
  const auto q = falling_proxy(tiles, n, rng);
  const std::vector<double> w = {1, 1, 0.3, 1, 2, 1, 1, 1};
  std::vector<double> c(tiles), a(tiles);
  std::uniform_real_distribution<double> u(1, 100);
  for (size_t t = 0; t < tiles; ++t) c[t] = u(rng), a[t] = u(rng);
  auto truth = [&](int d) {
    std::vector<double> e(tiles);
    for (size_t t = 0; t < tiles; ++t) {
      double weighted = 0;
      for (int j = d; j < n; ++j) weighted += w[j] * (q[j][t] - q[j + 1][t]);
      e[t] = c[t] + a[t] * weighted;
    }
    return e;
  };
  const std::vector<int> depths = {1, 2, 3, 4, 5, 6};
  const std::map<int, std::vector<double>> decoded = {{1, truth(1)}, {6, truth(6)}};
  const auto with = estimate_tile_sse(tiles, depths, q, decoded, w);
  const auto without = estimate_tile_sse(tiles, depths, q, decoded);
  double miss = 0;
  for (size_t t = 0; t < tiles; ++t)
    for (size_t i = 0; i < depths.size(); ++i) {
      const double want = truth(depths[i])[t];
      EXPECT_NEAR(with[t * depths.size() + i], want, 1e-6 * want);
      miss = std::max(miss, std::abs(without[t * depths.size() + i] - want) / want);
    }
  EXPECT_GT(miss, 0.01);
  EXPECT_THROW(estimate_tile_sse(tiles, depths, q, decoded, {1, 2}), Error);
}

TEST(TileDistortion, MapWeightsFromACrop) {
  // Proxy at depths 0..5 and the crop's error at depths 1..4: maps 1, 2 and 3 are measured.
  const std::vector<double> proxy = {20, 10, 6, 4, 1, 0};
  const std::vector<double> sse = {1000, 600, 580, 280};  // drops 400, 20, 300
  const auto w = map_weights_from_crop({1, 2, 3, 4}, sse, proxy);
  ASSERT_EQ(w.size(), 5u);
  EXPECT_DOUBLE_EQ(w[1], 100);  // 400 / 4
  EXPECT_DOUBLE_EQ(w[2], 10);   // 20 / 2
  EXPECT_DOUBLE_EQ(w[3], 100);  // 300 / 3
  EXPECT_DOUBLE_EQ(w[0], 100);  // not measured: the median
  EXPECT_DOUBLE_EQ(w[4], 100);
  // A weight far from the others is held within 10x of their median; a rise in error
  // (noise) measures nothing.
  const auto clamped = map_weights_from_crop({1, 2, 3, 4}, {1000, 600, 599.9, 299.9}, proxy);
  EXPECT_DOUBLE_EQ(clamped[2], 10);  // 0.05 held at 100 / 10
  const auto rising = map_weights_from_crop({1, 2, 3}, {100, 200, 50}, proxy);
  EXPECT_DOUBLE_EQ(rising[1], 75);   // 150 / 2, the only one measured, is the median
  EXPECT_EQ(map_weights_from_crop({1, 2}, {5, 5}, proxy), std::vector<double>(5, 1.0));  // nothing measured
  EXPECT_THROW(map_weights_from_crop({1, 3}, {5, 4}, proxy), Error);
  EXPECT_THROW(map_weights_from_crop({1, 2}, {5}, proxy), Error);
}

TEST(TileDistortion, DecodedDepthsAreExactAndTheRestStaysBetweenItsAnchors) {
  const std::vector<std::vector<double>> q = {{9}, {5}, {4}, {1}, {0}};  // one tile, depths 0..4
  // Decoded errors that do not follow q: the estimate is the q-fraction of the way, and
  // where q does not move it falls back to the fraction of the depths.
  const std::map<int, std::vector<double>> decoded = {{1, {100}}, {3, {40}}};
  const auto est = estimate_tile_sse(1, {1, 2, 3}, q, decoded);
  EXPECT_DOUBLE_EQ(est[0], 100);
  EXPECT_DOUBLE_EQ(est[1], 40 + (4.0 - 1.0) / (5.0 - 1.0) * 60);
  EXPECT_DOUBLE_EQ(est[2], 40);
  const std::vector<std::vector<double>> flat = {{2}, {2}, {2}, {2}, {2}};
  EXPECT_DOUBLE_EQ(estimate_tile_sse(1, {2}, flat, decoded)[0], 70);
  // Beyond the anchors a rising error (noise) gives no slope, and nothing goes below 0.
  const std::map<int, std::vector<double>> rising = {{1, {10}}, {2, {30}}};
  EXPECT_DOUBLE_EQ(estimate_tile_sse(1, {4}, q, rising)[0], 30);
  const std::map<int, std::vector<double>> steep = {{0, {100}}, {1, {1}}};
  EXPECT_GE(estimate_tile_sse(1, {4}, q, steep)[0], 0.0);
}

TEST(TileDistortion, OneDecodeUsesTheImagesRatioAndNoneTheProxy) {
  const std::vector<std::vector<double>> q = {{8, 4}, {4, 2}, {0, 0}};  // two tiles, depths 0..2
  // One anchor at depth 1: sse / q over the image is (20 + 10) / (4 + 2) = 5.
  const auto one = estimate_tile_sse(2, {0, 1, 2}, q, {{1, {20, 10}}});
  EXPECT_DOUBLE_EQ(one[0], 20 + 5 * 4);
  EXPECT_DOUBLE_EQ(one[1], 20);
  EXPECT_DOUBLE_EQ(one[2], 20 - 5 * 4);
  EXPECT_DOUBLE_EQ(one[3], 10 + 5 * 2);
  const auto none = estimate_tile_sse(2, {0, 2}, q, {});
  EXPECT_EQ(none, (std::vector<double>{8, 0, 4, 0}));
}

TEST(TileDistortion, RejectsTablesThatDoNotMatch) {
  const std::vector<std::vector<double>> q = {{1, 1}, {0, 0}};
  EXPECT_THROW(estimate_tile_sse(3, {1}, q, {}), Error);              // tiles
  EXPECT_THROW(estimate_tile_sse(2, {2}, q, {}), Error);              // a depth past the proxy
  EXPECT_THROW(estimate_tile_sse(2, {1}, q, {{1, {1.0}}}), Error);    // a decode of other tiles
  EXPECT_THROW(estimate_tile_sse(2, {1}, q, {{5, {1.0, 1.0}}}), Error);
}

TEST(TileDistortion, AnchorsSpanTheWindowAndHoldK0) {
  EXPECT_EQ(anchor_depths(3, 11, 7, 3), (std::vector<int>{3, 7, 11}));
  EXPECT_EQ(anchor_depths(1, 6, 2, 3), (std::vector<int>{1, 2, 6}));
  EXPECT_EQ(anchor_depths(3, 11, 7, 2), (std::vector<int>{3, 11}));
  EXPECT_EQ(anchor_depths(3, 11, 7, 5), (std::vector<int>{3, 5, 7, 9, 11}));
  EXPECT_EQ(anchor_depths(1, 6, 2, 4), (std::vector<int>{1, 2, 4, 6}));
  EXPECT_EQ(anchor_depths(1, 3, 2, 9), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(anchor_depths(3, 11, 6, 1), (std::vector<int>{6}));
  EXPECT_TRUE(anchor_depths(3, 11, 7, 0).empty());
  // Never more than asked, never a depth twice, always inside the window.
  for (int count = 1; count <= 9; ++count)
    for (int k0 = 1; k0 <= 9; ++k0) {
      const auto a = anchor_depths(1, 9, k0, count);
      EXPECT_LE(static_cast<int>(a.size()), count);
      EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
      EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
      EXPECT_GE(a.front(), 1);
      EXPECT_LE(a.back(), 9);
      if (count >= 2) EXPECT_EQ(static_cast<int>(a.size()), std::min(count, 9)) << count << " " << k0;
    }
}

}  // namespace
}  // namespace hrvq
