// The codec library: round trips, agreement with the network, progressive truncation,
// tiling, coders, batches, threads and model identity.
#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/image.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "codec_support.hpp"
#include "hrvq/error.hpp"
#include "tensor_image.hpp"

namespace hrvq {
namespace {

using codec_test::make_model;
using codec_test::TempDir;
using codec_test::test_image;
using codec_test::tiny_config;

using codec_test::cpu;

int max_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.pixels.size(), b.pixels.size()); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

// The file cut just before segment `k + 1` (0-based k segments kept).
std::vector<uint8_t> cut_after(const std::vector<uint8_t>& bytes, size_t k) {
  auto parsed = parse_bitstream(bytes, "x");
  size_t end = parsed.segment_offsets[k - 1] + parsed.segments[k - 1].size();
  return std::vector<uint8_t>(bytes.begin(), bytes.begin() + end);
}

class CodecTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(CodecTest, RoundTripShapesAndHeader) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  Codec codec(path, cpu());
  Image im = test_image(37, 29, 3);
  auto bytes = codec.encode(im);
  auto parsed = parse_bitstream(bytes, "x");
  EXPECT_EQ(parsed.header.width, 37u);
  EXPECT_EQ(parsed.header.height, 29u);
  EXPECT_EQ(parsed.header.channels, 3);
  EXPECT_EQ(parsed.header.grid_w, 10);
  EXPECT_EQ(parsed.header.grid_h, 8);
  EXPECT_EQ(parsed.header.quantizer, StreamQuantizer::Hr);
  EXPECT_EQ(parsed.header.codes, 4);
  EXPECT_EQ(parsed.header.layers, 3);
  EXPECT_EQ(parsed.header.layers_present, 3);
  EXPECT_EQ(parsed.header.coder, Coder::RansCtx);
  EXPECT_EQ(parsed.header.model_fingerprint, codec.fingerprint());
  Image out = codec.decode(bytes, "x");
  EXPECT_EQ(out.width, 37);
  EXPECT_EQ(out.height, 29);
  EXPECT_EQ(out.channels, 3);
  EXPECT_EQ(out.pixels.size(), size_t(37) * 29 * 3);
}

TEST_F(CodecTest, AgreesWithTheNetwork) {
  for (auto q : {QuantizerKind::Hr, QuantizerKind::Vq2}) {
    auto path = make_model(dir / "m.hrvqm", tiny_config(q));
    Codec codec(path, cpu(0));
    Image im = test_image(30, 21, 3);
    auto model = load_model(path, torch::kCPU);
    auto x = image_to_tensor(im);
    CodeMaps codes = model.net->encode(x);
    IndexMaps maps = codec.analyze(im);
    ASSERT_EQ(maps.maps.size(), codes.size());
    for (size_t l = 0; l < codes.size(); ++l) {
      auto flat = codes[l].reshape({-1}).contiguous();
      ASSERT_EQ(flat.numel(), int64_t(maps.maps[l].size()));
      for (int64_t i = 0; i < flat.numel(); ++i) ASSERT_EQ(flat.data_ptr<int64_t>()[i], maps.maps[l][i]) << l << " " << i;
    }
    Image want = tensor_to_image(model.net->decode(codes, 0, 21, 30)[0]);
    Image got = codec.decode(codec.encode(im), "x");
    EXPECT_EQ(got.pixels, want.pixels) << quantizer_kind_name(q);
  }
}

TEST_F(CodecTest, TruncationIsProgressive) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  std::vector<std::string> warnings;
  CodecOptions o = cpu();
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  Codec codec(path, o);
  Image im = test_image(24, 20, 3);
  auto full = codec.encode(im);
  for (size_t k = 1; k < 3; ++k) {
    warnings.clear();
    Image cut = codec.decode(cut_after(full, k), "cut.hrvq");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("cut.hrvq: truncated"), std::string::npos) << warnings[0];
    EXPECT_EQ(cut.pixels, codec.decode(full, "x", int(k)).pixels);
    EncodeOptions eo;
    eo.layers = int(k);
    auto fewer = codec.encode(im, eo);
    EXPECT_EQ(parse_bitstream(fewer, "x").segments, parse_bitstream(cut_after(full, k), "x").segments)
        << "an encoder asked for k layers writes the first k";
    EXPECT_EQ(codec.decode(fewer, "x").pixels, cut.pixels);
  }
  EXPECT_NE(codec.decode(full, "x", 1).pixels, codec.decode(full, "x").pixels);
  EXPECT_THROW(codec.decode(full, "x", 4), Error);
  // Cutting inside the first segment leaves nothing to decode.
  std::vector<uint8_t> stub(full.begin(), full.begin() + 45);
  EXPECT_THROW(codec.decode(stub, "x"), Error);
}

TEST_F(CodecTest, TiledEqualsUntiled) {
  for (auto q : {QuantizerKind::Hr, QuantizerKind::Vq2}) {
    auto path = make_model(dir / "m.hrvqm", tiny_config(q));
    Codec whole(path, cpu(0));
    Codec tiled(path, cpu(16));
    Image im = test_image(75, 53, 3, 7);
    IndexMaps a = whole.analyze(im), b = tiled.analyze(im);
    ASSERT_EQ(a.maps.size(), b.maps.size());
    for (size_t l = 0; l < a.maps.size(); ++l) EXPECT_EQ(a.maps[l], b.maps[l]) << quantizer_kind_name(q) << " layer " << l;
    Image da = whole.synthesize(a), db = tiled.synthesize(a);
    EXPECT_LE(max_abs_diff(da, db), 1) << quantizer_kind_name(q);
    EXPECT_LE(max_abs_diff(whole.decode(whole.encode(im), "x"), tiled.decode(tiled.encode(im), "x")), 1);
  }
}

TEST_F(CodecTest, EveryCoderDecodesTheSame) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  Codec codec(path, cpu());
  Image im = test_image(33, 17, 3);
  std::vector<uint8_t> reference;
  for (Coder c : {Coder::RansCtx, Coder::Rans, Coder::Zstd, Coder::Raw}) {
    EncodeOptions eo;
    eo.coder = c;
    auto bytes = codec.encode(im, eo);
    EXPECT_EQ(parse_bitstream(bytes, "x").header.coder, c);
    Image out = codec.decode(bytes, "x");
    if (reference.empty()) reference = out.pixels;
    EXPECT_EQ(out.pixels, reference) << coder_name(c);
  }
}

TEST_F(CodecTest, OtherQuantizersRoundTrip) {
  for (auto q : {QuantizerKind::Vq, QuantizerKind::Rvq}) {
    auto path = make_model(dir / "m.hrvqm", tiny_config(q));
    Codec codec(path, cpu());
    Image im = test_image(16, 12, 3);
    auto bytes = codec.encode(im);
    EXPECT_EQ(codec.decode(bytes, "x").pixels, codec.synthesize(codec.analyze(im)).pixels);
  }
}

TEST_F(CodecTest, WrongModelIsRefused) {
  auto a = make_model(dir / "a.hrvqm", tiny_config(), 1);
  auto b = make_model(dir / "b.hrvqm", tiny_config(), 2);
  Codec ca(a, cpu()), cb(b, cpu());
  auto bytes = ca.encode(test_image(8, 8, 3));
  try {
    cb.decode(bytes, "pic.hrvq");
    FAIL() << "decoded with the wrong model";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg, fmt::format("pic.hrvq: made with model {:016x} but the model is {:016x} ({})", ca.fingerprint(),
                               cb.fingerprint(), b));
  }
}

TEST_F(CodecTest, GrayModelConvertsRgbInput) {
  auto path = make_model(dir / "g.hrvqm", tiny_config(QuantizerKind::Hr, 1));
  std::vector<std::string> warnings;
  CodecOptions o = cpu();
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  Codec codec(path, o);
  Image rgb = test_image(20, 12, 3);
  EncodeOptions eo;
  eo.name = "in.png";
  auto bytes = codec.encode(rgb, eo);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "in.png: converted RGB to gray for the model");
  Image out = codec.decode(bytes, "x");
  EXPECT_EQ(out.channels, 1);
  EXPECT_EQ(bytes, codec.encode(convert_channels(rgb, 1)));
}

TEST_F(CodecTest, ModelWithoutCountsOnlyRawAndZstd) {
  auto path = make_model(dir / "n.hrvqm", tiny_config(), 1, false);
  Codec codec(path, cpu());
  EXPECT_FALSE(codec.has_counts());
  Image im = test_image(8, 8, 3);
  EXPECT_THROW(codec.encode(im), Error);
  EncodeOptions eo;
  eo.coder = Coder::Zstd;
  EXPECT_EQ(codec.decode(codec.encode(im, eo), "x").width, 8);
}

TEST_F(CodecTest, BatchesMatchSingleImages) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  CodecOptions o = cpu(16);
  o.batch = 2;
  Codec codec(path, o);
  std::vector<Image> images = {test_image(24, 20, 3, 1), test_image(24, 20, 3, 2), test_image(9, 30, 3, 3),
                               test_image(24, 20, 3, 4)};
  auto streams = codec.encode_batch(images);
  ASSERT_EQ(streams.size(), images.size());
  std::vector<std::string> names;
  for (size_t i = 0; i < images.size(); ++i) {
    EXPECT_EQ(streams[i], codec.encode(images[i])) << i;
    names.push_back("s" + std::to_string(i));
  }
  auto decoded = codec.decode_batch(streams, names);
  for (size_t i = 0; i < images.size(); ++i) EXPECT_LE(max_abs_diff(decoded[i], codec.decode(streams[i], "x")), 1) << i;
}

TEST_F(CodecTest, SharedAcrossThreads) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  const Codec codec(path, cpu(16));
  std::vector<Image> images;
  std::vector<std::vector<uint8_t>> want;
  for (uint32_t i = 0; i < 4; ++i) {
    images.push_back(test_image(20 + int(i), 18, 3, i));
    want.push_back(codec.encode(images.back()));
  }
  std::vector<std::vector<uint8_t>> got(images.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < images.size(); ++i)
    threads.emplace_back([&, i] {
      for (int r = 0; r < 3; ++r) got[i] = codec.encode(images[i]);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got, want);
}

TEST_F(CodecTest, ModelSetFindsTheModelByFingerprint) {
  auto a = make_model(dir / "a.hrvqm", tiny_config(), 1);
  auto b = make_model(dir / "b.hrvqm", tiny_config(), 2);
  auto c = make_model(dir / "c.hrvqm", tiny_config(), 3);
  Codec cb(b, cpu()), cc(c, cpu());
  auto bytes = cb.encode(test_image(8, 8, 3));
  ModelSet both({a, b}, false, cpu());
  EXPECT_EQ(both.codec_for(bytes.data(), bytes.size(), "x").fingerprint(), cb.fingerprint());
  ModelSet only_a({a}, false, cpu());
  try {
    only_a.codec_for(bytes.data(), bytes.size(), "x.hrvq");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.hrvq: made with model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(a), std::string::npos) << e.what();
  }
  auto other = cc.encode(test_image(8, 8, 3));
  EXPECT_THROW(both.codec_for(other.data(), other.size(), "x"), Error);
}

TEST_F(CodecTest, DescribesBitstreamAsJson) {
  auto path = make_model(dir / "m.hrvqm", tiny_config());
  Codec codec(path, cpu());
  auto bytes = codec.encode(test_image(8, 8, 3));
  std::string json = describe_bitstream_json(parse_bitstream(bytes, "x"), bytes.size());
  EXPECT_NE(json.find("\"width\":8"), std::string::npos) << json;
  EXPECT_NE(json.find("\"layers_present\":3"), std::string::npos) << json;
  EXPECT_NE(json.find(fmt::format("{:016x}", codec.fingerprint())), std::string::npos) << json;
}

}  // namespace
}  // namespace hrvq
