// Index maps of which only some positions are coded (encode_index_map_masked): what a
// spatially varying prefix length needs.
#include <gtest/gtest.h>

#include <random>

#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

constexpr Coder kAllCoders[] = {Coder::Raw, Coder::Rans, Coder::Zstd, Coder::RansCtx};

LayerEntropyModel skewed_model(uint32_t contexts, uint32_t m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint64_t> counts(size_t(contexts) * m);
  for (auto& c : counts) c = rng() % 3 == 0 ? 0 : rng() % 1000;
  return LayerEntropyModel(counts, contexts, m);
}

struct Map {
  size_t width, height;
  std::vector<uint16_t> symbols;
  std::vector<uint32_t> contexts;
  std::vector<uint8_t> present;
};

// Runs of one code (so rans-ctx's neighbours matter) and a mask of absent blocks, as a
// per-tile prefix length leaves them.
Map make_map(size_t width, size_t height, uint32_t m, uint32_t contexts, uint32_t seed, size_t tile = 3) {
  std::mt19937 rng(seed);
  Map map{width, height, std::vector<uint16_t>(width * height), std::vector<uint32_t>(width * height),
          std::vector<uint8_t>(width * height)};
  std::vector<uint8_t> tile_on((width / tile + 1) * (height / tile + 1));
  for (auto& t : tile_on) t = rng() % 3 != 0;
  for (size_t y = 0; y < height; ++y)
    for (size_t x = 0; x < width; ++x) {
      const size_t k = y * width + x;
      map.symbols[k] = rng() % 4 == 0 ? static_cast<uint16_t>(rng() % m) : x ? map.symbols[k - 1] : 0;
      map.contexts[k] = static_cast<uint32_t>(rng() % contexts);
      map.present[k] = tile_on[(y / tile) * (width / tile + 1) + x / tile];
    }
  return map;
}

TEST(MaskedIndexMap, RoundTripsThePresentPositionsWithEveryCoder) {
  for (uint32_t m : {2u, 8u, 64u}) {
    const auto model = skewed_model(5, m, m);
    const Map map = make_map(23, 17, m, 5, 100 + m);
    for (Coder coder : kAllCoders) {
      auto bytes = encode_index_map_masked(map.symbols.data(), map.contexts.data(), map.present.data(),
                                           map.symbols.size(), map.width, model, coder);
      auto back = decode_index_map_masked(bytes.data(), bytes.size(), map.contexts.data(), map.present.data(),
                                          map.symbols.size(), map.width, model, coder);
      ASSERT_EQ(back.size(), map.symbols.size());
      for (size_t k = 0; k < back.size(); ++k)
        ASSERT_EQ(back[k], map.present[k] ? map.symbols[k] : 0) << coder_name(coder) << " m=" << m << " k=" << k;
    }
  }
}

TEST(MaskedIndexMap, AbsentPositionsCostNothingAndChangeNothing) {
  const uint32_t m = 8;
  const auto model = skewed_model(4, m, 7);
  Map map = make_map(31, 19, m, 4, 9);
  size_t present = 0;
  for (auto p : map.present) present += p;
  ASSERT_GT(present, 0u);
  ASSERT_LT(present, map.present.size());
  const std::vector<uint8_t> all(map.present.size(), 1);
  for (Coder coder : kAllCoders) {
    auto masked = encode_index_map_masked(map.symbols.data(), map.contexts.data(), map.present.data(),
                                          map.symbols.size(), map.width, model, coder);
    // A mask of all ones is the unmasked coder, byte for byte.
    auto full = encode_index_map_masked(map.symbols.data(), map.contexts.data(), all.data(), map.symbols.size(),
                                        map.width, model, coder);
    EXPECT_EQ(full, encode_index_map_2d(map.symbols.data(), map.contexts.data(), map.symbols.size(), map.width,
                                        model, coder))
        << coder_name(coder);
    EXPECT_LT(masked.size(), full.size()) << coder_name(coder);
    // Whatever sits at an absent position is not coded.
    Map other = map;
    for (size_t k = 0; k < other.symbols.size(); ++k)
      if (!other.present[k]) other.symbols[k] = static_cast<uint16_t>((other.symbols[k] + 3) % m);
    EXPECT_EQ(masked, encode_index_map_masked(other.symbols.data(), other.contexts.data(), other.present.data(),
                                              other.symbols.size(), other.width, model, coder))
        << coder_name(coder);
  }
}

TEST(MaskedIndexMap, RansCtxReadsAnAbsentNeighbourAsTheBorder) {
  // Column 0 absent: column 1 then has no left neighbour, exactly as column 0 of the
  // map without it. So the masked map codes to the same bytes as the map cropped to
  // columns 1.., whose contexts and symbols are the same.
  const uint32_t m = 16;
  const auto model = skewed_model(3, m, 21);
  const Map map = make_map(12, 9, m, 3, 5);
  Map masked = map;
  std::fill(masked.present.begin(), masked.present.end(), 1);
  std::vector<uint16_t> cropped;
  std::vector<uint32_t> cropped_ctx;
  for (size_t y = 0; y < map.height; ++y) {
    masked.present[y * map.width] = 0;
    for (size_t x = 1; x < map.width; ++x) {
      cropped.push_back(map.symbols[y * map.width + x]);
      cropped_ctx.push_back(map.contexts[y * map.width + x]);
    }
  }
  EXPECT_EQ(encode_index_map_masked(masked.symbols.data(), masked.contexts.data(), masked.present.data(),
                                    masked.symbols.size(), masked.width, model, Coder::RansCtx),
            encode_index_map_2d(cropped.data(), cropped_ctx.data(), cropped.size(), map.width - 1, model,
                                Coder::RansCtx));
}

TEST(MaskedIndexMap, DamagedPayloadsFailCleanly) {
  const uint32_t m = 8;
  const auto model = skewed_model(4, m, 3);
  const Map map = make_map(20, 20, m, 4, 11);
  for (Coder coder : kAllCoders) {
    auto bytes = encode_index_map_masked(map.symbols.data(), map.contexts.data(), map.present.data(),
                                         map.symbols.size(), map.width, model, coder);
    ASSERT_GT(bytes.size(), 2u);
    std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 2);
    EXPECT_THROW(decode_index_map_masked(cut.data(), cut.size(), map.contexts.data(), map.present.data(),
                                         map.symbols.size(), map.width, model, coder),
                 Error)
        << coder_name(coder);
    std::vector<uint8_t> longer = bytes;
    longer.insert(longer.end(), 64, 0xAB);
    EXPECT_THROW(decode_index_map_masked(longer.data(), longer.size(), map.contexts.data(), map.present.data(),
                                         map.symbols.size(), map.width, model, coder),
                 Error)
        << coder_name(coder);
  }
}

}  // namespace
}  // namespace hrvq
