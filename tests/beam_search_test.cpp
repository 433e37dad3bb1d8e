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
  CodecOptions o;
  o.device = "cpu";
  o.tile = 0;
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

}  // namespace
}  // namespace hrvq
