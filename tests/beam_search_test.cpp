// The encoder's beam search: width 1 is the greedy quantizer, a beam as wide as the tree
// is the exhaustive search, wider beams leave less residual, and the files it makes
// decode with the unchanged decoder.
#include <gtest/gtest.h>

#include "beam_search.hpp"
#include "codec_support.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "quantizer.hpp"
#include "tensor_image.hpp"

namespace hrvq {
namespace {

ResidualQuantizer trained_looking(QuantizerKind kind, int layers, int codes, int dim, uint64_t seed) {
  torch::manual_seed(seed);
  ResidualQuantizer q(kind, layers, codes, dim, 0.25, 0.25, false, 0.99);
  q->train();
  q->forward(torch::randn({4096, dim}));  // data-dependent initialisation of every layer
  q->eval();
  return q;
}

double residual_energy(const ResidualQuantizer& q, const torch::Tensor& z, const std::vector<torch::Tensor>& local) {
  return (z - q->lookup(local, 0)).pow(2).sum(1).mean().item<double>();
}

TEST(BeamSearch, WidthOneIsTheGreedyQuantizer) {
  for (auto kind : {QuantizerKind::Hr, QuantizerKind::Rvq}) {
    auto q = trained_looking(kind, 3, 8, 6, 1);
    auto z = torch::randn({500, 6});
    auto greedy = q->forward(z).local;
    auto beam = beam_search(*q, z, 1, 3);
    ASSERT_EQ(beam.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(beam[i], greedy[i])) << quantizer_kind_name(kind) << " " << i;
  }
}

TEST(BeamSearch, AWideEnoughBeamIsExhaustive) {
  const int m = 4, n = 3;
  auto q = trained_looking(QuantizerKind::Hr, n, m, 5, 2);
  auto z = torch::randn({300, 5});
  auto beam = beam_search(*q, z, m * m * m, n);
  // Brute force over all m^n paths through the tree.
  auto best = torch::full({300}, 1e30, torch::kFloat64);
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b)
      for (int c = 0; c < m; ++c) {
        auto full = [&](int v) { return torch::full({300}, v, torch::kInt64); };
        auto e = q->lookup({full(a), full(b), full(c)}, 0);
        best = torch::minimum(best, (z - e).pow(2).sum(1).to(torch::kFloat64));
      }
  auto got = (z - q->lookup(beam, 0)).pow(2).sum(1).to(torch::kFloat64);
  EXPECT_LT((got - best).abs().max().item<double>(), 1e-5);
}

TEST(BeamSearch, WiderBeamsLeaveLessResidual) {
  auto q = trained_looking(QuantizerKind::Hr, 4, 8, 16, 3);
  auto z = torch::randn({2000, 16});
  double last = residual_energy(*&q, z, beam_search(*q, z, 1, 4));
  for (int width : {2, 4, 8}) {
    const double e = residual_energy(q, z, beam_search(*q, z, width, 4));
    EXPECT_LT(e, last) << "width " << width;
    last = e;
  }
}

TEST(BeamSearch, FilesDecodeWithTheUnchangedDecoder) {
  codec_test::TempDir dir;
  ModelConfig c = codec_test::tiny_config();
  c.embed_dim = 8;
  c.groups = 2;
  auto path = codec_test::make_model(dir / "m.hrvqm", c, 5);
  const CodecOptions o = codec_test::cpu(0);
  Codec codec(path, o);
  Image im = codec_test::test_image(32, 24, 3, 3);
  EncodeOptions eo;
  eo.beam = 4;
  auto bytes = codec.encode(im, eo);
  auto model = load_model(path, torch::kCPU);
  CodeMaps codes = model.net->encode(image_to_tensor(im), 4);
  Image want = tensor_to_image(model.net->decode(codes, 0, 24, 32)[0]);
  EXPECT_EQ(codec.decode(bytes, "beam").pixels, want.pixels);
  IndexMaps greedy = codec.analyze(im), wide = codec.analyze(im, "", 4);
  EXPECT_NE(greedy.maps, wide.maps) << "the beam found other paths";
  eo.beam = 0;
  EXPECT_THROW(codec.encode(im, eo), Error);
}

TEST(BeamSearch, CodeCostsTradeDistortionForRate) {
  // Local code 0 of every codebook costs 1 bit, the others 6.
  auto costs_for = [](const ResidualQuantizer& q, int layers) {
    CodeCosts costs;
    for (int i = 0; i < layers; ++i) {
      auto bits = torch::full({q->codebook(i).size(0)}, 6.0f);
      bits.view({-1, 8}).select(1, 0).fill_(1.0f);
      costs.bits.push_back(bits);
    }
    return costs;
  };
  auto spent = [](const std::vector<torch::Tensor>& local) {
    double b = 0;
    for (auto& l : local) b += (l == 0).sum().item<double>() * 1 + (l != 0).sum().item<double>() * 6;
    return b / double(local[0].numel());
  };
  auto z = torch::randn({1000, 4});
  {
    // One layer: the choice minimises error + lambda * bits exactly, so rate never
    // rises and error never falls as lambda grows (the Lagrangian trade).
    auto q = trained_looking(QuantizerKind::Hr, 1, 8, 4, 4);
    CodeCosts costs = costs_for(q, 1);
    double last_bits = 1e9, last_error = 0;
    for (double lambda : {0.0, 0.01, 0.05, 0.2, 1.0, 100.0}) {
      costs.lambda = lambda;
      auto local = beam_search(*q, z, 1, 1, costs);
      const double b = spent(local), e = residual_energy(q, z, local);
      EXPECT_LE(b, last_bits) << lambda;
      EXPECT_GE(e, last_error - 1e-6) << lambda;
      last_bits = b, last_error = e;
    }
    EXPECT_DOUBLE_EQ(last_bits, 1.0) << "a huge lambda takes the cheapest code everywhere";
  }
  // Two layers of the tree: lambda 0 is the greedy search, a large one the cheapest path.
  auto q = trained_looking(QuantizerKind::Hr, 2, 8, 4, 4);
  CodeCosts costs = costs_for(q, 2);
  costs.lambda = 0;
  EXPECT_TRUE(torch::equal(beam_search(*q, z, 1, 2, costs)[1], q->forward(z).local[1]));
  costs.lambda = 0.1;
  EXPECT_LT(spent(beam_search(*q, z, 2, 2, costs)), spent(q->forward(z).local));
  costs.lambda = 100;
  EXPECT_DOUBLE_EQ(spent(beam_search(*q, z, 2, 2, costs)), 2.0);
}

TEST(BeamSearch, RdoFilesAreSmallerAndDecodeUnchanged) {
  codec_test::TempDir dir;
  ModelConfig c = codec_test::tiny_config();
  auto path = codec_test::make_model(dir / "m.hrvqm", c, 6);
  const CodecOptions o = codec_test::cpu(0);
  Codec codec(path, o);
  Image im = codec_test::test_image(48, 40, 3, 4);
  EncodeOptions eo;
  eo.coder = Coder::Rans;
  const size_t greedy = codec.encode(im, eo).size();
  eo.rdo_lambda = 10;
  auto bytes = codec.encode(im, eo);
  EXPECT_LT(bytes.size(), greedy);
  auto model = load_model(path, torch::kCPU);
  IndexMaps maps = codec.analyze(im, "", 1, 10);
  std::vector<torch::Tensor> codes;
  for (size_t l = 0; l < maps.maps.size(); ++l) {
    std::vector<int64_t> v(maps.maps[l].begin(), maps.maps[l].end());
    codes.push_back(torch::tensor(v).view({1, int64_t(maps.rows[l]), int64_t(maps.cols[l])}));
  }
  Image want = tensor_to_image(model.net->decode(codes, 0, 40, 48)[0]);
  EXPECT_EQ(codec.decode(bytes, "rdo").pixels, want.pixels);
  auto bare = codec_test::make_model(dir / "bare.hrvqm", c, 6, /*counts=*/false);
  Codec no_counts(bare, o);
  eo.coder = Coder::Zstd;
  EXPECT_THROW(no_counts.encode(im, eo), Error);
}

}  // namespace
}  // namespace hrvq
