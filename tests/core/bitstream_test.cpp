#include "hrvq/bitstream.hpp"

#include <gtest/gtest.h>

#include "bitstream_support.hpp"

#include <random>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

BitstreamHeader small_header(Coder coder = Coder::Rans) {
  BitstreamHeader h;
  h.model_fingerprint = 0x0123456789abcdefull;
  h.width = 30;
  h.height = 17;
  h.channels = 3;
  h.downsample = 4;
  h.grid_w = 8;  // ceil(30 / 4)
  h.grid_h = 5;  // ceil(17 / 4)
  h.quantizer = StreamQuantizer::Hr;
  h.coder = coder;
  h.codes = 8;
  h.layers = 3;
  h.layers_present = 3;
  return h;
}

// A real HR stream: random maps coded with per-layer models.
std::vector<std::vector<uint8_t>> make_segments(const BitstreamHeader& h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint8_t>> segs;
  std::vector<uint32_t> ctx(layer_positions(h, 0), 0);
  for (unsigned layer = 0; layer < h.layers_present; ++layer) {
    const uint32_t contexts = static_cast<uint32_t>(hr_layer_contexts(h.codes, layer));
    std::vector<uint64_t> counts(size_t{contexts} * h.codes);
    for (auto& c : counts) c = rng() % 100;
    const LayerEntropyModel model(counts, contexts, h.codes);
    std::vector<uint16_t> syms(ctx.size());
    for (auto& s : syms) s = static_cast<uint16_t>(rng() % h.codes);
    segs.push_back(encode_index_map(syms.data(), ctx.data(), syms.size(), model, h.coder));
    advance_hr_contexts(ctx, syms, h.codes);
  }
  return segs;
}

using test::parse_error_of;

std::string error_of(const std::vector<uint8_t>& bytes) { return parse_error_of(bytes); }

// Rewrites a header field and fixes the header CRC, to reach the field checks.
std::vector<uint8_t> patched(std::vector<uint8_t> bytes, size_t offset, std::vector<uint8_t> value) {
  std::copy(value.begin(), value.end(), bytes.begin() + offset);
  const size_t crc_at = bytes[6] | bytes[7] << 8;  // the header length: the CRC is its last 4 bytes
  const uint32_t crc = crc32(bytes.data(), crc_at - 4);
  for (int k = 0; k < 4; ++k) bytes[crc_at - 4 + k] = static_cast<uint8_t>(crc >> (8 * k));
  return bytes;
}

// The same stream as a version-1 writer made it: 40-byte header without the group byte.
std::vector<uint8_t> as_version1(const std::vector<uint8_t>& v2) {
  std::vector<uint8_t> v1(v2.begin(), v2.begin() + 36);
  v1[4] = 1;
  v1[6] = 40;
  v1[7] = 0;
  const uint32_t crc = crc32(v1.data(), 36);
  for (int k = 0; k < 4; ++k) v1.push_back(static_cast<uint8_t>(crc >> (8 * k)));
  v1.insert(v1.end(), v2.begin() + kBitstreamHeaderSize, v2.end());
  return v1;
}

TEST(Bitstream, RoundTrip) {
  for (Coder coder : {Coder::Raw, Coder::Rans, Coder::Zstd}) {
    const auto h = small_header(coder);
    const auto segs = make_segments(h, 1);
    const auto bytes = write_bitstream(h, segs);
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 4), "HRVQ");
    const auto p = parse_bitstream(bytes, "f.hrvq");
    EXPECT_FALSE(p.truncated);
    EXPECT_EQ(p.segments, segs);
    EXPECT_EQ(p.header.model_fingerprint, h.model_fingerprint);
    EXPECT_EQ(p.header.width, 30u);
    EXPECT_EQ(p.header.coder, coder);
    EXPECT_EQ(p.header_size, kBitstreamHeaderSize);
    const std::string info = describe_bitstream(p, bytes.size());
    EXPECT_NE(info.find("layer 3:"), std::string::npos) << info;
  }
}

TEST(Bitstream, FewerLayersPresent) {
  auto h = small_header();
  h.layers_present = 2;
  const auto segs = make_segments(h, 2);
  const auto p = parse_bitstream(write_bitstream(h, segs), "f");
  EXPECT_EQ(p.segments.size(), 2u);
  EXPECT_FALSE(p.truncated);
}

TEST(Bitstream, EveryPrefixIsTruncatedOrRejected) {
  for (Coder coder : {Coder::Raw, Coder::Rans, Coder::Zstd}) {
    const auto h = small_header(coder);
    const auto segs = make_segments(h, 3);
    const auto bytes = write_bitstream(h, segs);
    std::vector<size_t> ends;  // file size at which each layer becomes complete
    size_t pos = kBitstreamHeaderSize;
    for (const auto& s : segs) ends.push_back(pos += kSegmentHeaderSize + s.size());
    for (size_t len = 0; len <= bytes.size(); ++len) {
      const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
      size_t complete = 0;
      while (complete < ends.size() && ends[complete] <= len) ++complete;
      if (complete == 0) {
        EXPECT_THROW(parse_bitstream(prefix, "f"), Error) << len;
        continue;
      }
      const auto p = parse_bitstream(prefix, "f");
      EXPECT_EQ(p.segments.size(), complete) << len;
      EXPECT_EQ(p.truncated, len < bytes.size()) << len;
      for (size_t i = 0; i < complete; ++i) EXPECT_EQ(p.segments[i], segs[i]);
    }
  }
}

TEST(Bitstream, EveryBitFlipIsDetected) {
  const auto h = small_header();
  const auto bytes = write_bitstream(h, make_segments(h, 4));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int b = 0; b < 8; ++b) {
      auto bad = bytes;
      bad[i] ^= static_cast<uint8_t>(1u << b);
      // A damaged length that points past the end reads as a cut file; nothing may
      // parse as a complete, intact stream.
      try {
        const auto p = parse_bitstream(bad, "f");
        EXPECT_TRUE(p.truncated) << "byte " << i << " bit " << b;
      } catch (const Error&) {
      }
    }
  }
}

TEST(Bitstream, ErrorsNameTheProblem) {
  const auto h = small_header();
  const auto segs = make_segments(h, 5);
  const auto bytes = write_bitstream(h, segs);
  auto bad = bytes;
  bad[kBitstreamHeaderSize + kSegmentHeaderSize + segs[0].size() + kSegmentHeaderSize + 1] ^= 1;
  EXPECT_EQ(error_of(bad), "f.hrvq: layer 2 segment is corrupt (CRC mismatch)");
  bad = bytes;
  bad[10] ^= 1;
  EXPECT_EQ(error_of(bad), "f.hrvq: header is corrupt (CRC mismatch)");
  bad = bytes;
  bad.push_back(0);
  EXPECT_EQ(error_of(bad), "f.hrvq: 1 bytes of trailing garbage after the last layer");
  bad = bytes;
  bad[4] = 4;
  EXPECT_EQ(error_of(bad), "f.hrvq: unsupported bitstream version 4 (this build reads 1..3; a newer hrvq wrote it)");
  bad[4] = 0;
  EXPECT_EQ(error_of(bad), "f.hrvq: unsupported bitstream version 0 (this build reads 1..3)");
  // Byte 37 is the depth tile from version 3 on; in a version-2 file it is reserved.
  EXPECT_EQ(error_of(patched(bytes, 37, {1})), "f.hrvq: reserved header bytes are not zero");
  EXPECT_EQ(error_of(patched(bytes, 38, {1})), "f.hrvq: reserved header bytes are not zero");
  EXPECT_EQ(error_of(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 6)), "f.hrvq: truncated header");
  EXPECT_EQ(error_of({'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0}), "f.hrvq: not an hrvq bitstream (bad magic)");
  EXPECT_EQ(error_of({}), "f.hrvq: not an hrvq bitstream");
  EXPECT_EQ(error_of(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20)), "f.hrvq: truncated header");
  EXPECT_EQ(error_of(std::vector<uint8_t>(bytes.begin(), bytes.begin() + kBitstreamHeaderSize + 3)),
            "f.hrvq: truncated: no complete layer");
}

TEST(Bitstream, RejectsImpossibleHeaders) {
  const auto h = small_header(Coder::Raw);
  const auto bytes = write_bitstream(h, make_segments(h, 6));
  ASSERT_EQ(error_of(patched(bytes, 16, {30, 0, 0, 0})), "");  // the patch helper itself is sound
  const std::vector<std::pair<size_t, std::vector<uint8_t>>> cases = {
      {16, {0, 0, 0, 0}},        // width 0
      {20, {0, 0, 0, 0}},        // height 0
      {16, {0, 0, 1, 0}},        // width 65536
      {16, {0xff, 0xff, 0xff, 0xff}},
      {24, {9, 0}},              // grid does not match the image
      {24, {0xff, 0xff}},
      {28, {2}},                 // channels
      {29, {3}},                 // stride not a power of two
      {29, {0}},
      {29, {128}},
      {30, {4}},                 // quantizer
      {30, {1}},                 // vq with 3 layers
      {31, {4}},                 // coder
      {32, {1, 0}},              // m = 1
      {32, {0x01, 0x10}},        // m = 4097
      {34, {0}},                 // n = 0
      {34, {2}},                 // k > n
      {34, {17}},
      {35, {0}},                 // k = 0
      {5, {1}},                  // flags
      {6, {39, 0}},              // header length
      {36, {0}},                 // no groups
      {36, {2}},                 // 3 layers in 2 groups
      {36, {17}},
  };
  for (const auto& [offset, value] : cases) EXPECT_NE(error_of(patched(bytes, offset, value)), "") << offset;
  // Huge dimensions that are individually in range but too many pixels.
  auto big = h;
  big.width = big.height = 65535;
  big.grid_w = big.grid_h = 16384;
  EXPECT_THROW(validate_header(big), Error);
  auto hr = small_header();
  hr.codes = 4096;
  hr.layers = 4;  // 4096^4 global indices do not fit in 32 bits
  hr.layers_present = 1;
  EXPECT_THROW(validate_header(hr), Error);
}

TEST(Bitstream, Version1FilesStillParse) {
  const auto h = small_header(Coder::Rans);
  const auto segs = make_segments(h, 3);
  const auto v1 = as_version1(write_bitstream(h, segs));
  const auto p = parse_bitstream(v1, "old.hrvq");
  EXPECT_EQ(p.header.version, 1);
  EXPECT_EQ(p.header.groups, 1);
  EXPECT_EQ(p.header_size, kBitstreamV1HeaderSize);
  EXPECT_EQ(p.segments, segs);
  EXPECT_EQ(p.header.layers, h.layers);
  // A version-1 header may not be shorter than 40 bytes, and v2 not shorter than 44.
  auto short_v1 = v1;
  short_v1[6] = 39;
  EXPECT_EQ(error_of(short_v1), "f.hrvq: header length 39 out of range");
  auto v2 = write_bitstream(h, segs);
  v2[6] = 40;
  EXPECT_EQ(error_of(v2), "f.hrvq: header length 40 out of range");
}

TEST(Bitstream, GroupsInTheHeader) {
  auto h = small_header(Coder::Raw);
  h.groups = 4;
  h.layers = 12;  // 4 groups x 3 layers
  h.layers_present = 5;
  const auto segs = make_segments(h, 4);
  const auto bytes = write_bitstream(h, segs);
  EXPECT_EQ(bytes[36], 4);
  const auto p = parse_bitstream(bytes, "g.hrvq");
  EXPECT_EQ(p.header.groups, 4);
  EXPECT_EQ(tree_depth(p.header), 3u);
  EXPECT_EQ(p.segments.size(), 5u);
  EXPECT_NE(describe_bitstream(p, bytes.size()).find("4 groups x 3 layers"), std::string::npos);
  // The depth, not the map count, bounds hr's global indices: 16 maps of 8 codes in 4
  // groups are 4 layers deep (8^4 rows), while 16 layers of 8 codes (8^16) do not fit.
  auto deep = small_header();
  deep.layers = 16;
  deep.layers_present = 1;
  deep.codes = 8;
  EXPECT_THROW(validate_header(deep), Error);
  deep.groups = 4;
  EXPECT_NO_THROW(validate_header(deep));
  auto vq = small_header();
  vq.quantizer = StreamQuantizer::Vq;
  vq.layers = vq.layers_present = 1;
  vq.groups = 1;
  EXPECT_NO_THROW(validate_header(vq));
  vq.groups = 2;
  vq.layers = 2;
  EXPECT_THROW(validate_header(vq), Error);
}

TEST(Bitstream, RejectsOversizedSegmentLength) {
  const auto h = small_header(Coder::Rans);
  auto bytes = write_bitstream(h, make_segments(h, 7));
  const size_t bound = max_segment_size(h, 0);
  const uint32_t len = static_cast<uint32_t>(bound + 1);
  for (int k = 0; k < 4; ++k) bytes[kBitstreamHeaderSize + k] = static_cast<uint8_t>(len >> (8 * k));
  EXPECT_NE(error_of(bytes).find("layer 1 segment length"), std::string::npos) << error_of(bytes);
}

TEST(Bitstream, Vq2Geometry) {
  BitstreamHeader h = small_header();
  h.quantizer = StreamQuantizer::Vq2;
  h.layers = h.layers_present = 2;
  h.codes = 512;
  // Sides are padded to multiples of 2d = 8: 32 x 24 pixels, bottom grid 8 x 6, top 4 x 3.
  EXPECT_EQ(expected_grid_side(30, 4, StreamQuantizer::Vq2), 8);
  EXPECT_EQ(expected_grid_side(17, 4, StreamQuantizer::Vq2), 6);
  h.grid_w = 8;
  h.grid_h = 6;
  EXPECT_NO_THROW(validate_header(h));
  EXPECT_EQ(layer_positions(h, 0), 12u);
  EXPECT_EQ(layer_positions(h, 1), 48u);
}

TEST(Bitstream, WriterRejectsMismatch) {
  const auto h = small_header();
  auto segs = make_segments(h, 8);
  segs.pop_back();
  EXPECT_THROW(write_bitstream(h, segs), Error);
  segs.push_back(std::vector<uint8_t>(max_segment_size(h, 2) + 1));
  EXPECT_THROW(write_bitstream(h, segs), Error);
}

}  // namespace
}  // namespace hrvq
