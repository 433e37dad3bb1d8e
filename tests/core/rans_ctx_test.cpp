// The adaptive neighbour-context rANS coder (Coder::RansCtx).
#include <gtest/gtest.h>

#include <random>

#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

LayerEntropyModel random_model(uint32_t contexts, uint32_t m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint64_t> counts(size_t(contexts) * m);
  for (auto& c : counts) c = rng() % 1000;
  return LayerEntropyModel(counts, contexts, m);
}

// A map with spatial structure: runs of one code along rows, rows repeating.
std::vector<uint16_t> smooth_map(size_t width, size_t height, uint32_t m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> map(width * height);
  for (size_t y = 0; y < height; ++y)
    for (size_t x = 0; x < width; ++x) {
      size_t k = y * width + x;
      if (rng() % 5 == 0) map[k] = static_cast<uint16_t>(rng() % m);
      else if (x > 0) map[k] = map[k - 1];
      else if (y > 0) map[k] = map[k - width];
      else map[k] = 0;
    }
  return map;
}

void expect_round_trip(const std::vector<uint16_t>& map, const std::vector<uint32_t>& ctx, size_t width,
                       const LayerEntropyModel& model) {
  auto bytes = encode_index_map_2d(map.data(), ctx.data(), map.size(), width, model, Coder::RansCtx);
  auto back = decode_index_map_2d(bytes.data(), bytes.size(), ctx.data(), map.size(), width, model, Coder::RansCtx);
  ASSERT_EQ(back, map);
}

TEST(RansCtx, RoundTripsRandomSmoothAndConstantMaps) {
  for (uint32_t m : {2u, 3u, 8u, 16u, 64u, 256u}) {
    for (size_t width : {1u, 7u, 32u}) {
      const size_t height = 23;
      auto model = random_model(3, m, m);
      std::mt19937 rng(static_cast<uint32_t>(m * 31 + width));
      std::vector<uint32_t> ctx(width * height);
      for (auto& c : ctx) c = rng() % 3;
      std::vector<uint16_t> random(width * height);
      for (auto& s : random) s = static_cast<uint16_t>(rng() % m);
      expect_round_trip(random, ctx, width, model);
      expect_round_trip(smooth_map(width, height, m, 5), ctx, width, model);
      expect_round_trip(std::vector<uint16_t>(width * height, static_cast<uint16_t>(m - 1)), ctx, width, model);
    }
  }
}

TEST(RansCtx, EmptyMap) {
  auto model = random_model(1, 8, 1);
  auto bytes = encode_index_map_2d(nullptr, nullptr, 0, 4, model, Coder::RansCtx);
  EXPECT_TRUE(decode_index_map_2d(bytes.data(), bytes.size(), nullptr, 0, 4, model, Coder::RansCtx).empty());
}

TEST(RansCtx, NeighboursPayOnSpatiallyRedundantMaps) {
  const size_t width = 60, height = 40;
  auto map = smooth_map(width, height, 8, 9);
  std::vector<uint64_t> uniform(8, 100);
  LayerEntropyModel model(uniform, 1, 8);
  std::vector<uint32_t> ctx(map.size(), 0);
  auto ctx_bytes = encode_index_map_2d(map.data(), ctx.data(), map.size(), width, model, Coder::RansCtx);
  auto static_bytes = encode_index_map_2d(map.data(), ctx.data(), map.size(), width, model, Coder::Rans);
  EXPECT_LT(ctx_bytes.size() * 2, static_bytes.size()) << ctx_bytes.size() << " vs " << static_bytes.size();
}

TEST(RansCtx, WidthMattersAndGarbageFailsCleanly) {
  const size_t width = 16, height = 16;
  auto map = smooth_map(width, height, 8, 3);
  auto model = random_model(1, 8, 2);
  std::vector<uint32_t> ctx(map.size(), 0);
  auto bytes = encode_index_map_2d(map.data(), ctx.data(), map.size(), width, model, Coder::RansCtx);
  // Decoding with another width uses other neighbours: it must not reproduce the map
  // silently (it may fail, or give another map).
  try {
    auto other = decode_index_map_2d(bytes.data(), bytes.size(), ctx.data(), map.size(), 8, model, Coder::RansCtx);
    EXPECT_NE(other, map);
  } catch (const Error&) {
  }
  std::mt19937 rng(4);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> junk(4 + rng() % 64);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    try {
      auto out = decode_index_map_2d(junk.data(), junk.size(), ctx.data(), map.size(), width, model, Coder::RansCtx);
      for (auto s : out) ASSERT_LT(s, 8);
    } catch (const Error&) {
    }
  }
}

TEST(RansCtx, RejectsLargeAlphabets) {
  auto model = random_model(1, 512, 1);
  std::vector<uint16_t> map(4, 0);
  std::vector<uint32_t> ctx(4, 0);
  EXPECT_THROW(encode_index_map_2d(map.data(), ctx.data(), 4, 2, model, Coder::RansCtx), Error);
  EXPECT_EQ(parse_coder("rans-ctx"), Coder::RansCtx);
  EXPECT_STREQ(coder_name(Coder::RansCtx), "rans-ctx");
}

}  // namespace
}  // namespace hrvq
