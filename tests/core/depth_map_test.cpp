// The version-3 depth map: geometry, its coding, the container around it (bounds,
// truncation, damage) and format/bitstream.md's worked examples byte for byte.
#include "hrvq/depth_map.hpp"

#include <gtest/gtest.h>

#include "bitstream_support.hpp"

#include <random>

#include "hrvq/bitstream.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"
#include "hrvq/map_contexts.hpp"

namespace hrvq {
namespace {

using test::parse_error_of;

std::string error_of(const std::vector<uint8_t>& bytes) { return parse_error_of(bytes); }

TEST(DepthMap, GeometryCutsTheLastRowAndColumn) {
  DepthMap map = make_depth_map(10, 7, 4, 1);  // 3 x 2 tiles; the last ones 2 wide, 3 high
  EXPECT_EQ(map.tiles_x, 3u);
  EXPECT_EQ(map.tiles_y, 2u);
  map.depth = {1, 2, 3, 4, 5, 6};
  const auto d = position_depths(map, 10, 7, 16);
  ASSERT_EQ(d.size(), 70u);
  EXPECT_EQ(d[0], 1);
  EXPECT_EQ(d[3], 1);
  EXPECT_EQ(d[4], 2);
  EXPECT_EQ(d[9], 3);
  EXPECT_EQ(d[3 * 10 + 9], 3);
  EXPECT_EQ(d[4 * 10 + 0], 4);
  EXPECT_EQ(d[6 * 10 + 9], 6);
  // A cap (a truncated file, --layers) lowers the deeper tiles only.
  const auto capped = position_depths(map, 10, 7, 2);
  EXPECT_EQ(capped[0], 1);
  EXPECT_EQ(capped[6 * 10 + 9], 2);
  // No depth map: the cap everywhere.
  EXPECT_EQ(position_depths(DepthMap{}, 3, 2, 5), std::vector<uint8_t>(6, 5));
  EXPECT_THROW(make_depth_map(10, 7, 0, 1), Error);
  EXPECT_THROW(make_depth_map(10, 7, 256, 1), Error);
}

TEST(DepthMap, CodingRoundTripsAndMatchesTheSpecVector) {
  DepthMap two = make_depth_map(2, 1, 1, 1);
  two.depth = {4, 2};
  const std::vector<uint8_t> spec = {0x00, 0xc0, 0x01, 0x08};  // format/bitstream.md, "Depth map", Coding
  EXPECT_EQ(encode_depth_map(two, 4), spec);
  EXPECT_EQ(decode_depth_map(spec.data(), spec.size(), 2, 1, 1, 4, 4).depth, two.depth);

  std::mt19937 rng(3);
  DepthMap map = make_depth_map(121, 81, 4, 1);
  for (auto& v : map.depth) v = static_cast<uint8_t>(1 + rng() % 9);
  map.depth[7] = 9;
  const auto bytes = encode_depth_map(map, 16);
  EXPECT_EQ(decode_depth_map(bytes.data(), bytes.size(), 121, 81, 4, 16, 9).depth, map.depth);
  // A smooth map costs far less than its 4 raw bits per tile.
  DepthMap smooth = make_depth_map(121, 81, 4, 3);
  smooth.depth[0] = 5;
  EXPECT_LT(encode_depth_map(smooth, 16).size(), smooth.tiles() / 8);
}

TEST(DepthMap, DecodeRejectsDepthsTheFileDoesNotHold) {
  DepthMap map = make_depth_map(2, 1, 1, 1);
  map.depth = {4, 2};
  const auto bytes = encode_depth_map(map, 4);
  try {
    decode_depth_map(bytes.data(), bytes.size(), 2, 1, 1, 4, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tile 0 has depth 4 but the file holds 3 layers");
  }
  map.depth = {2, 2};
  const auto shallow = encode_depth_map(map, 4);
  try {
    decode_depth_map(shallow.data(), shallow.size(), 2, 1, 1, 4, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the deepest tile has depth 2 but the file holds 3 layers");
  }
  map.depth = {0, 2};
  EXPECT_THROW(encode_depth_map(map, 4), Error);
}

// The worked example of format/bitstream.md: an 8 x 4 image, hr, G = 2, n = 2, m = 4, raw.
BitstreamHeader example_header() {
  BitstreamHeader h;
  h.model_fingerprint = 0x0123456789abcdefull;
  h.width = 8;
  h.height = 4;
  h.channels = 3;
  h.downsample = 4;
  h.grid_w = 2;
  h.grid_h = 1;
  h.quantizer = StreamQuantizer::Hr;
  h.coder = Coder::Raw;
  h.codes = 4;
  h.layers = 4;
  h.layers_present = 4;
  h.groups = 2;
  return h;
}

std::vector<std::vector<uint8_t>> example_segments(const std::vector<uint8_t>* depth) {
  const std::vector<std::vector<uint16_t>> maps = {{1, 3}, {0, 2}, {2, 1}, {3, 3}};
  std::vector<LayerEntropyModel> models(4, LayerEntropyModel(std::vector<uint64_t>(4, 0), 1, 4));
  return encode_index_maps(maps, {2, 2, 2, 2}, models, true, 2, 4, Coder::Raw, 1, depth);
}

TEST(DepthMap, MatchesTheSpecWorkedExamples) {
  const std::vector<uint8_t> v2 = {
      0x48, 0x52, 0x56, 0x51, 0x02, 0x00, 0x2c, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
      0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x03, 0x04, 0x00, 0x00,
      0x04, 0x00, 0x04, 0x04, 0x02, 0x00, 0x00, 0x00, 0x2e, 0xcb, 0x4c, 0x6f, 0x01, 0x00, 0x00, 0x00,
      0x91, 0xaf, 0x47, 0xab, 0x70, 0x01, 0x00, 0x00, 0x00, 0x65, 0xfe, 0x2c, 0xc0, 0x20, 0x01, 0x00,
      0x00, 0x00, 0xe9, 0x4d, 0x4d, 0x0b, 0x90, 0x01, 0x00, 0x00, 0x00, 0xb1, 0x2c, 0xff, 0x46, 0xf0};
  EXPECT_EQ(write_bitstream(example_header(), example_segments(nullptr)), v2);

  const std::vector<uint8_t> v3 = {
      0x48, 0x52, 0x56, 0x51, 0x03, 0x00, 0x2c, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
      0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x03, 0x04, 0x00, 0x00,
      0x04, 0x00, 0x04, 0x04, 0x02, 0x01, 0x00, 0x00, 0x8c, 0x75, 0xfe, 0xfb, 0x04, 0x00, 0x00, 0x00,
      0xa0, 0xfe, 0x07, 0x67, 0x00, 0xc0, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, 0x91, 0xaf, 0x47, 0xab,
      0x70, 0x01, 0x00, 0x00, 0x00, 0x65, 0xfe, 0x2c, 0xc0, 0x20, 0x01, 0x00, 0x00, 0x00, 0x8d, 0x5d,
      0xfa, 0x16, 0x80, 0x01, 0x00, 0x00, 0x00, 0x1d, 0x1c, 0x26, 0x60, 0xc0};
  BitstreamHeader h = example_header();
  h.depth_tile = 1;
  DepthMap depth = make_depth_map(2, 1, 1, 1);
  depth.depth = {4, 2};
  const auto per_position = position_depths(depth, 2, 1, 4);
  EXPECT_EQ(write_bitstream(h, example_segments(&per_position), depth), v3);

  const auto parsed = parse_bitstream(v3, "x");
  EXPECT_EQ(parsed.header.version, 3);
  EXPECT_EQ(parsed.header.depth_tile, 1);
  EXPECT_EQ(parsed.depth.depth, depth.depth);
  EXPECT_EQ(parsed.depth_segment_bytes, 4u);
  ASSERT_EQ(parsed.segments.size(), 4u);
  EXPECT_EQ(coded_positions(parsed.header, parsed.depth, 1), 2u);
  EXPECT_EQ(coded_positions(parsed.header, parsed.depth, 2), 1u);
  const auto present = present_in_map(per_position, 2);
  LayerEntropyModel flat(std::vector<uint64_t>(4, 0), 1, 4);
  EXPECT_EQ(decode_index_map_masked(parsed.segments[2].data(), parsed.segments[2].size(), nullptr, present.data(), 2, 2,
                                    flat, Coder::Raw),
            (std::vector<uint16_t>{2, 0}));

  // The spec's truncation points: 44..55 bytes lack the depth map, 56..64 any map.
  for (size_t n = 44; n < 56; ++n)
    EXPECT_EQ(error_of(std::vector<uint8_t>(v3.begin(), v3.begin() + n)), "f.hrvq: truncated: the depth map is incomplete")
        << n;
  for (size_t n = 56; n < 65; ++n)
    EXPECT_EQ(error_of(std::vector<uint8_t>(v3.begin(), v3.begin() + n)), "f.hrvq: truncated: no complete layer") << n;
  const auto cut = parse_bitstream(std::vector<uint8_t>(v3.begin(), v3.begin() + 83), "x");
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.segments.size(), 3u);
}

TEST(DepthMap, ContainerRejectsDamage) {
  BitstreamHeader h = example_header();
  h.depth_tile = 1;
  DepthMap depth = make_depth_map(2, 1, 1, 1);
  depth.depth = {4, 2};
  const auto per_position = position_depths(depth, 2, 1, 4);
  const auto file = write_bitstream(h, example_segments(&per_position), depth);
  // Every single-bit flip is caught (a CRC, a bound or the field checks), or, in a
  // length field pointing past the end, reads as a cut file.
  for (size_t i = 0; i < file.size(); ++i)
    for (int b = 0; b < 8; ++b) {
      auto bad = file;
      bad[i] ^= static_cast<uint8_t>(1 << b);
      try {
        const auto p = parse_bitstream(bad, "x");
        EXPECT_TRUE(p.truncated) << "byte " << i << " bit " << b << " went unnoticed";
      } catch (const Error&) {
      }
    }
  // A depth map on vq is refused by the field checks; its tile byte in a version-2 file
  // is a reserved byte.
  BitstreamHeader vq = h;
  vq.quantizer = StreamQuantizer::Vq;
  vq.layers = vq.layers_present = 1;
  vq.groups = 1;
  EXPECT_THROW(validate_header(vq), Error);
  // The writer refuses a map that does not fit its header.
  DepthMap shallow = depth;
  shallow.depth = {3, 2};
  EXPECT_THROW(write_bitstream(h, example_segments(&per_position), shallow), Error);
  h.depth_tile = 2;
  EXPECT_THROW(write_bitstream(h, example_segments(&per_position), depth), Error);
}

}  // namespace
}  // namespace hrvq
