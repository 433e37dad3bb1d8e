// The per-tile depth decision: the Lagrangian, the per-tile error and bit tables it
// reads, and the lambda search.
#include "hrvq/tile_rate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

TileCosts two_tiles() {
  TileCosts c;
  c.tiles = 2;
  c.depths = {1, 2, 3};
  // Tile 0 gains a lot from depth 2 and nothing from 3; tile 1 gains little anywhere.
  c.sse = {1000, 100, 99, 50, 45, 44};
  c.bits = {10, 20, 30, 10, 20, 30};
  return c;
}

TEST(TileRate, LagrangianPicksEachTilesBestTrade) {
  const TileCosts c = two_tiles();
  EXPECT_EQ(choose_depths(c, 0.0), (std::vector<uint8_t>{3, 3}));     // error only
  EXPECT_EQ(choose_depths(c, 0.05), (std::vector<uint8_t>{3, 3}));
  EXPECT_EQ(choose_depths(c, 1.0), (std::vector<uint8_t>{2, 1}));     // tile 0 gains 900 for 10 more bits, tile 1 only 5
  EXPECT_EQ(choose_depths(c, 1000.0), (std::vector<uint8_t>{1, 1}));  // bits only
  EXPECT_DOUBLE_EQ(choice_sse(c, {2, 1}), 150.0);
  EXPECT_DOUBLE_EQ(choice_bits(c, {2, 1}), 30.0);
  EXPECT_THROW(choice_sse(c, {4, 1}), Error);
  TileCosts bad = c;
  bad.bits.pop_back();
  EXPECT_THROW(choose_depths(bad, 1.0), Error);
}

TEST(TileRate, TileErrorSumsEachTilesPixels) {
  Image a{5, 3, 3, std::vector<uint8_t>(45, 10)};
  Image b = a;
  b.pixels[0] = 13;                       // tile (0, 0): 9
  b.pixels[(2 * 5 + 4) * 3 + 2] = 6;      // pixel (4, 2), the cut tile (2, 1): 16
  b.pixels[(1 * 5 + 2) * 3 + 1] = 11;     // pixel (2, 1), tile (1, 0): 1
  const auto e = tile_sse(a, b, 2, 3, 2);
  EXPECT_EQ(e, (std::vector<double>{9, 1, 0, 0, 0, 16}));
  Image other{4, 3, 3, std::vector<uint8_t>(36, 10)};
  EXPECT_THROW(tile_sse(a, other, 2, 3, 2), Error);
}

TEST(TileRate, BitsArePrefixSumsOverMaps) {
  // A 3 x 2 grid, tiles of 2: tile 0 holds columns 0..1, tile 1 column 2.
  std::vector<std::vector<float>> bits = {{1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2}, {4, 4, 4, 4, 4, 4}};
  const auto t = tile_bits(bits, 3, 2, 2, {1, 3});
  EXPECT_EQ(t, (std::vector<double>{4, 28, 2, 14}));
  EXPECT_THROW(tile_bits(bits, 3, 2, 2, {4}), Error);
}

TEST(TileRate, PositionBitsAreTheCodersIdealLengths) {
  // hr, m = 2, two layers: layer 1's contexts are layer 0's codes.
  std::vector<LayerEntropyModel> models;
  models.emplace_back(std::vector<uint64_t>{3, 1}, 1, 2);
  models.emplace_back(std::vector<uint64_t>{0, 7, 7, 0}, 2, 2);
  const std::vector<std::vector<uint16_t>> maps = {{0, 1, 0}, {1, 0, 0}};
  const auto bits = position_bits(maps, models, true, 1, 2);
  ASSERT_EQ(bits.size(), 2u);
  for (size_t q = 0; q < 3; ++q) {
    EXPECT_NEAR(bits[0][q], -std::log2(models[0].probability(0, maps[0][q])), 1e-5);
    EXPECT_NEAR(bits[1][q], -std::log2(models[1].probability(maps[0][q], maps[1][q])), 1e-5);
  }
  EXPECT_LT(bits[1][0], 0.5);  // parent 0 almost always picks 1
  EXPECT_GT(bits[1][2], 2.0);  // and rarely 0
}

TEST(TileRate, SmallestLambdaFindsTheBoundary) {
  int probes = 0;
  const double found = smallest_lambda(1e-2, 1e6, 40, [&](double l) {
    ++probes;
    return l >= 37.0;
  });
  EXPECT_NEAR(found, 37.0, 37.0 * 1e-6);
  EXPECT_EQ(probes, 41);
  EXPECT_DOUBLE_EQ(smallest_lambda(1, 10, 5, [](double) { return true; }), 1.0);
  EXPECT_NEAR(smallest_lambda(1, 10, 5, [](double) { return false; }), 10.0, 1e-9);
  EXPECT_THROW(smallest_lambda(0, 10, 5, [](double) { return true; }), Error);
}

}  // namespace
}  // namespace hrvq
