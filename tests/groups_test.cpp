// Channel groups: G trees over contiguous channel groups, maps in layer-major order, and
// the codec's per-group contexts, checked against the network itself.
#include <gtest/gtest.h>

#include "codec_support.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "model.hpp"
#include "tensor_image.hpp"

namespace hrvq {
namespace {

using codec_test::make_model;
using codec_test::TempDir;
using codec_test::test_image;
using codec_test::tiny_config;

ModelConfig grouped(QuantizerKind q, int groups) {
  ModelConfig c = tiny_config(q);
  c.embed_dim = 8;
  c.groups = groups;
  c.layers = 2;
  c.codes = 4;
  return c;
}

CodecOptions cpu() { return codec_test::cpu(0); }

TEST(Groups, ConfigurationRules) {
  ModelConfig c = grouped(QuantizerKind::Hr, 4);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.num_layers(), 8);
  EXPECT_EQ(c.layer_table_sizes(), (std::vector<int64_t>{4, 4, 4, 4, 16, 16, 16, 16}));
  EXPECT_EQ(c.map_index(3, 1), 7);
  EXPECT_EQ(c.group_prefix(0, 2), 2);
  EXPECT_EQ(c.group_prefix(5, 0), 2);  // maps 0 and 4
  EXPECT_EQ(c.group_prefix(5, 1), 1);
  EXPECT_EQ(c.group_prefix(1, 1), 0);
  EXPECT_DOUBLE_EQ(c.raw_bits_per_position(), 16.0);
  c.groups = 3;  // 8 channels do not split in 3
  EXPECT_THROW(c.validate(), Error);
  c = grouped(QuantizerKind::Vq, 2);
  EXPECT_THROW(c.validate(), Error);
}

// VQ-VAE and each level of VQ-VAE-2 are one codebook even when `layers` (a preset's n)
// says 3: they once built 3 residual layers, trained on all of them, and crashed at
// encoding.
TEST(Groups, VqBaselinesAreOneCodebookWhateverTheLayerCount) {
  for (auto [kind, maps] : {std::pair{QuantizerKind::Vq, 1}, std::pair{QuantizerKind::Vq2, 2}}) {
    ModelConfig c = tiny_config(kind);
    c.layers = 3;
    HrvqModel model(c);
    int codebooks = 0;
    for (auto& p : model->named_parameters())
      if (p.key().find("codebook_") != std::string::npos) {
        ++codebooks;
        EXPECT_NE(p.key().find("codebook_0"), std::string::npos) << p.key();
      }
    EXPECT_EQ(codebooks, maps);
    auto x = torch::rand({2, c.image_channels, 32, 32});
    model->train();
    auto r = model->forward(x, 0);
    EXPECT_TRUE(std::isfinite(r.loss.item<double>()));
    for (auto& q : r.quant) EXPECT_EQ(q.local.size(), 1u);
    EXPECT_EQ(static_cast<int>(model->encode(x).size()), maps);
    EXPECT_EQ(c.num_layers(), maps);
  }
}

TEST(Groups, EveryPrefixDecodesAsTheNetworkDoes) {
  TempDir dir;
  for (auto q : {QuantizerKind::Hr, QuantizerKind::Rvq}) {
    const ModelConfig config = grouped(q, 2);
    auto path = make_model(dir / "g.hrvqm", config, 3);
    Codec codec(path, cpu());
    auto model = load_model(path, torch::kCPU);
    Image im = test_image(28, 20, 3, 5);
    auto x = image_to_tensor(im);
    CodeMaps codes = model.net->encode(x);
    ASSERT_EQ(codes.size(), 4u);
    auto bytes = codec.encode(im);
    auto parsed = parse_bitstream(bytes, "g");
    EXPECT_EQ(parsed.header.groups, 2);
    EXPECT_EQ(parsed.header.layers, 4);
    for (int k = 1; k <= 4; ++k) {
      // The training forward with decode_layers = k, the network's decode of the first k
      // maps and the codec's decode of a k-map prefix are one reconstruction.
      torch::NoGradGuard no_grad;
      model.net->eval();
      auto forward = model.net->forward(x, k).reconstruction;
      CodeMaps prefix(codes.begin(), codes.begin() + k);
      auto decoded = model.net->decode(prefix, 0, 20, 28);
      EXPECT_LT((forward - decoded).abs().max().item<double>(), 1e-5) << k;
      Image want = tensor_to_image(decoded[0]);
      EXPECT_EQ(codec.decode(bytes, "g", k).pixels, want.pixels) << quantizer_kind_name(q) << " k=" << k;
    }
  }
}

TEST(Groups, ContextsFollowEachGroupsOwnParent) {
  // With the hr context rule, map j's context is the global row its group picked at the
  // previous layer. If the codec used map j-1 instead (another group), the model's count
  // tables would be read with the wrong parents: decoding would still invert encoding,
  // so check the choice directly through the static coder's cost.
  TempDir dir;
  ModelConfig config = grouped(QuantizerKind::Hr, 2);
  auto path = make_model(dir / "g.hrvqm", config, 9);
  Codec codec(path, cpu());
  Image im = test_image(32, 32, 3, 2);
  IndexMaps maps = codec.analyze(im);
  ASSERT_EQ(maps.maps.size(), 4u);
  EncodeOptions eo;
  eo.coder = Coder::Rans;
  auto bytes = codec.encode(im, eo);
  auto parsed = parse_bitstream(bytes, "g");
  // Recode map 2 (group 0, layer 2) by hand with group 0's parents from map 0.
  auto model = load_model(path, torch::kCPU);
  const uint32_t m = 4;
  std::vector<uint32_t> ctx(maps.maps[0].begin(), maps.maps[0].end());
  LayerEntropyModel layer2(model.counts[2], 4, m);
  auto want = encode_index_map(maps.maps[2].data(), ctx.data(), maps.maps[2].size(), layer2, Coder::Rans);
  EXPECT_EQ(parsed.segments[2], want);
}

TEST(Groups, VersionOneFilesOfOneGroupStillDecode) {
  TempDir dir;
  auto path = make_model(dir / "m.hrvqm", tiny_config(), 4);
  Codec codec(path, cpu());
  Image im = test_image(20, 16, 3, 8);
  auto v2 = codec.encode(im);
  // Rewrite the header as version 1 (40 bytes, no group byte), as an older hrvq wrote it.
  std::vector<uint8_t> v1(v2.begin(), v2.begin() + 36);
  v1[4] = 1;
  v1[6] = 40;
  const uint32_t crc = crc32(v1.data(), 36);
  for (int k = 0; k < 4; ++k) v1.push_back(static_cast<uint8_t>(crc >> (8 * k)));
  v1.insert(v1.end(), v2.begin() + kBitstreamHeaderSize, v2.end());
  EXPECT_EQ(codec.decode(v1, "old.hrvq").pixels, codec.decode(v2, "new.hrvq").pixels);
}

// The groups' chains are entropy-coded and decoded on several threads: the bytes and the
// maps are those of one thread, and a damaged file reports the same (lowest) layer.
TEST(Groups, EntropyThreadsChangeNothing) {
  TempDir dir;
  auto path = make_model(dir / "g.hrvqm", grouped(QuantizerKind::Hr, 4), 9);
  CodecOptions one = cpu(), four = cpu();
  one.entropy_threads = 1;
  four.entropy_threads = 4;
  Codec a(path, one), b(path, four);
  Image im = test_image(60, 44, 3, 2);
  for (Coder c : {Coder::RansCtx, Coder::Rans, Coder::Zstd}) {
    EncodeOptions eo;
    eo.coder = c;
    auto bytes = a.encode(im, eo);
    EXPECT_EQ(b.encode(im, eo), bytes) << coder_name(c);
    EXPECT_EQ(b.decode(bytes, "g").pixels, a.decode(bytes, "g").pixels) << coder_name(c);
  }
  auto bytes = a.encode(im);
  auto parsed = parse_bitstream(bytes, "g");
  // Damage maps 6 (group 2, layer 2) and 7 (group 3, layer 2): both report layer 6.
  for (size_t j : {5u, 6u}) bytes[parsed.segment_offsets[j] + 2] ^= 0x5a;
  std::string want, got;
  try {
    a.decode(bytes, "g");
  } catch (const Error& e) {
    want = e.what();
  }
  try {
    b.decode(bytes, "g");
  } catch (const Error& e) {
    got = e.what();
  }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace hrvq

namespace hrvq {
namespace {

// truncation_energy (the --adaptive encoder's proxy, tile_distortion.hpp) against the
// quantizers' own lookups: entry d is ||all maps' vectors - the first d maps' vectors||^2
// summed over the groups, with each group's prefix as ModelConfig::group_prefix counts it.
TEST(Groups, TruncationEnergyIsWhatAPrefixLeavesOut) {
  for (auto [kind, groups] : {std::pair{QuantizerKind::Hr, 2}, std::pair{QuantizerKind::Rvq, 1}}) {
    ModelConfig c = grouped(kind, groups);
    c.layers = 3;
    HrvqModel model(c);
    model->eval();
    torch::manual_seed(3);
    {
      torch::NoGradGuard no_grad;  // untrained codebooks may be zero: give them vectors
      for (auto& p : model->named_parameters())
        if (p.key().find("codebook") != std::string::npos) p.value().normal_();
    }
    const int maps = c.num_layers();
    CodeMaps codes;
    for (int j = 0; j < maps; ++j) codes.push_back(torch::randint(0, c.codes, {2, 3, 5}, torch::kInt64));
    const auto energy = model->truncation_energy(codes);
    ASSERT_EQ(energy.size(), size_t(maps) + 1);
    const auto quantizers = model->quantizers();
    for (int d = 0; d <= maps; ++d) {
      auto expected = torch::zeros({30});
      for (int g = 0; g < groups; ++g) {
        std::vector<torch::Tensor> local;
        for (int i = 0; i < c.layers; ++i) local.push_back(codes[c.map_index(g, i)].reshape({-1}));
        const int kept = d == 0 ? 0 : c.group_prefix(d, g);  // group_prefix reads 0 as all
        auto tail = quantizers[g]->lookup(local, 0);
        if (kept > 0) tail = tail - quantizers[g]->lookup(local, kept);
        expected += tail.pow(2).sum(1);
      }
      ASSERT_EQ(energy[d].sizes(), (torch::IntArrayRef{2, 3, 5}));
      EXPECT_TRUE(torch::allclose(energy[d].reshape({-1}), expected, 1e-4, 1e-5)) << d;
    }
    EXPECT_EQ(energy[maps].abs().max().item<float>(), 0.0f);
    EXPECT_GT(energy[0].min().item<float>(), 0.0f);
  }
}

}  // namespace
}  // namespace hrvq
