// The frozen oneDNN graphs (frozen_network.hpp) against the eager modules they are
// compiled from: the same function of the input for every network shape the presets
// build, a snapshot of the weights, and on the bundled photo model the same files and
// the same pixels as the reference path.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include <torch/torch.h>

#include "frozen_network.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/image.hpp"
#include "hrvq/image_quality.hpp"
#include "networks.hpp"
#include "photo_fixture.hpp"

namespace hrvq {
namespace {

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

class FrozenNetworkShapes : public ::testing::TestWithParam<std::tuple<int, UpsampleKind>> {};

TEST_P(FrozenNetworkShapes, ComputeWhatTheEagerModulesCompute) {
  const auto [stride, upsample] = GetParam();
  torch::manual_seed(stride);
  Encoder encoder(3, 16, 2, 8, stride);
  Decoder decoder(6, 3, 16, 2, 8, stride, upsample);
  const auto frozen_encoder = FrozenNetwork::compile(encoder->net, "Encoder");
  const auto frozen_decoder = FrozenNetwork::compile(decoder->net, "Decoder");
  torch::NoGradGuard no_grad;
  // Two shapes in a row (the codec's tiles differ in size): the graph is not
  // specialised to the first one it saw.
  for (const auto& [h, w] : {std::pair{8 * 5, 8 * 7}, std::pair{8 * 9, 8 * 3}}) {
    auto x = torch::rand({2, 3, h, w}) - 0.5;
    auto e = encoder->forward(x);
    auto f = frozen_encoder.forward(x);
    ASSERT_EQ(f.sizes(), e.sizes());
    EXPECT_LT(max_relative_difference(f, e), 1e-5) << "encoder, stride " << stride << ", " << h << "x" << w;
    auto z = torch::randn({2, 6, h / stride, w / stride});
    auto d = decoder->forward(z);
    auto g = frozen_decoder.forward(z);
    ASSERT_EQ(g.sizes(), d.sizes());
    EXPECT_TRUE(g.is_contiguous());
    EXPECT_LT(max_relative_difference(g, d), 1e-5) << "decoder, stride " << stride << ", " << h << "x" << w;
  }
  // Channels-last input (how the eager encoder is fed) gives the same result.
  auto x = torch::rand({1, 3, 16, 24});
  EXPECT_LT(max_relative_difference(frozen_encoder.forward(x.contiguous(at::MemoryFormat::ChannelsLast)),
                                    frozen_encoder.forward(x)),
            1e-6);
}

INSTANTIATE_TEST_SUITE_P(StridesAndUpsamplers, FrozenNetworkShapes,
                         ::testing::Combine(::testing::Values(2, 4, 8),
                                            ::testing::Values(UpsampleKind::Subpixel, UpsampleKind::Transpose)));

TEST(FrozenNetwork, KeepsTheWeightsItWasCompiledWith) {
  torch::manual_seed(3);
  Decoder decoder(4, 3, 8, 1, 4, 4, UpsampleKind::Subpixel);
  const auto frozen = FrozenNetwork::compile(decoder->net, "Decoder");
  torch::NoGradGuard no_grad;
  auto z = torch::randn({1, 4, 5, 6});
  auto before = decoder->forward(z);
  for (auto& p : decoder->parameters()) p.mul_(2);
  EXPECT_LT(max_relative_difference(frozen.forward(z), before), 1e-5);
  EXPECT_GT(max_relative_difference(decoder->forward(z), before), 0.1);
}

TEST(FrozenNetwork, RejectsAModuleItHasNoScriptFor) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(1)), torch::nn::Tanh());
  EXPECT_THROW(FrozenNetwork::compile(net, "Odd"), std::invalid_argument);
  torch::nn::Sequential same(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(torch::kSame)));
  EXPECT_THROW(FrozenNetwork::compile(same, "Same"), std::invalid_argument);
}

// The bundled photo model on a real photograph (photo_fixture.hpp), tiled so that tiles
// of several shapes run: frozen against eager.
class FrozenCodecTest : public test::BundledPhotoTest {
 protected:
  static void SetUpTestSuite() {
    BundledPhotoTest::SetUpTestSuite();
    const std::string model = std::string(HRVQ_SOURCE_DIR) + "/models/photo.hrvqm";
    CodecOptions o;
    o.device = "cpu";
    o.tile = 192;
    frozen_ = new Codec(model, o);
    o.frozen_networks = false;
    eager_ = new Codec(model, o);
  }
  static void TearDownTestSuite() {
    delete frozen_;
    delete eager_;
    BundledPhotoTest::TearDownTestSuite();
  }
  static inline Codec* frozen_ = nullptr;
  static inline Codec* eager_ = nullptr;
};

TEST_F(FrozenCodecTest, WritesTheFilesOfTheReferencePath) {
  // Only the decoder is frozen, so encoding at a quality gives the eager path's bytes.
  // (Encoders that decode to decide, --psnr and --adaptive, see pixels that can differ by
  // a rounding flip, which can move a decision that sits exactly on its threshold.)
  for (int q : {20, 60}) {
    EncodeOptions eo;
    eo.rate = RateTarget::quality(q);
    EXPECT_EQ(frozen_->encode(*photo_, eo), eager_->encode(*photo_, eo)) << "-q " << q;
  }
}

TEST_F(FrozenCodecTest, DecodesTheSamePixels) {
  EncodeOptions eo;
  eo.rate = RateTarget::quality(60);
  const auto file = eager_->encode(*photo_, eo);
  const Image ref = eager_->decode(file, "x"), fast = frozen_->decode(file, "x");
  ASSERT_EQ(ref.pixels.size(), fast.pixels.size());
  size_t off_by_one = 0;
  for (size_t i = 0; i < ref.pixels.size(); ++i) {
    const int d = std::abs(int(ref.pixels[i]) - int(fast.pixels[i]));
    ASSERT_LE(d, 1) << "pixel byte " << i;
    off_by_one += d;
  }
  // A rounding flip at x.5 is the only way the two can differ.
  EXPECT_LT(off_by_one, ref.pixels.size() / 1000);
  EXPECT_NEAR(psnr(*photo_, fast), psnr(*photo_, ref), 0.01);
}

}  // namespace
}  // namespace hrvq
