// The fast paths against the reference on the bundled photo model and a real photograph:
// bf16 networks (CodecOptions::precision) give nearly the same codes and pixels as fp32,
// and their files are ordinary files that the fp32 codec decodes.
#include <gtest/gtest.h>

#include <string>

#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"

namespace hrvq {
namespace {

class PrecisionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = std::string(HRVQ_SOURCE_DIR) + "/models/photo.hrvqm";
    CodecOptions o;
    o.device = "cpu";
    fp32_ = new Codec(model, o);
    o.precision = Precision::Bf16;
    try {
      bf16_ = new Codec(model, o);
    } catch (const Error& e) {
      skip_ = e.what();  // a CPU without bf16 convolutions: the codec refuses, as it should
    }
    auto bytes = read_file(std::string(HRVQ_TESTDATA) + "/photos/bsds500-test-108004.jpg");
    photo_ = new Image(decode_image(bytes.data(), bytes.size(), "photo"));
  }
  static void TearDownTestSuite() {
    delete fp32_;
    delete bf16_;
    delete photo_;
  }
  void SetUp() override {
    if (!bf16_) GTEST_SKIP() << skip_;
  }
  static Codec* fp32_;
  static Codec* bf16_;
  static Image* photo_;
  static std::string skip_;
};
std::string PrecisionTest::skip_;
Codec* PrecisionTest::fp32_ = nullptr;
Codec* PrecisionTest::bf16_ = nullptr;
Image* PrecisionTest::photo_ = nullptr;

TEST_F(PrecisionTest, Bf16CodesAreNearlyTheFp32Codes) {
  IndexMaps a = fp32_->analyze(*photo_), b = bf16_->analyze(*photo_);
  ASSERT_EQ(a.maps.size(), b.maps.size());
  size_t positions = 0, differ = 0;
  for (size_t l = 0; l < a.maps.size(); ++l) {
    ASSERT_EQ(a.maps[l].size(), b.maps[l].size());
    for (size_t p = 0; p < a.maps[l].size(); ++p) differ += a.maps[l][p] != b.maps[l][p];
    positions += a.maps[l].size();
    // The first map is the coarsest choice: rounding must almost never move it.
    if (l == 0) {
      size_t first = 0;
      for (size_t p = 0; p < a.maps[0].size(); ++p) first += a.maps[0][p] != b.maps[0][p];
      EXPECT_LT(first, a.maps[0].size() / 50) << "first map";
    }
  }
  // Later maps quantize residuals, where bf16's 8-bit mantissa does move near ties.
  EXPECT_LT(differ, positions / 5) << differ << " of " << positions;
  EXPECT_GT(differ, 0u) << "bf16 changed no code at all: is it running bf16?";
}

TEST_F(PrecisionTest, Bf16DecodingCostsAlmostNothing) {
  EncodeOptions eo;
  eo.rate = RateTarget::quality(40);
  const auto file = fp32_->encode(*photo_, eo);
  const Image ref = fp32_->decode(file, "x"), fast = bf16_->decode(file, "x");
  const double p_ref = psnr(*photo_, ref), p_fast = psnr(*photo_, fast);
  EXPECT_NEAR(p_fast, p_ref, 0.05) << "fp32 " << p_ref << " dB, bf16 " << p_fast << " dB";
  EXPECT_GT(psnr(ref, fast), 45.0) << "bf16 pixels stray from fp32's";
}

TEST_F(PrecisionTest, Bf16FilesAreOrdinaryFiles) {
  EncodeOptions eo;
  eo.rate = RateTarget::quality(40);
  const auto fast = bf16_->encode(*photo_, eo), ref = fp32_->encode(*photo_, eo);
  // Same header and map count; the fp32 codec decodes it to about the same quality.
  EXPECT_EQ(fast.size() > 0, true);
  const double p_fast = psnr(*photo_, fp32_->decode(fast, "bf16 file"));
  const double p_ref = psnr(*photo_, fp32_->decode(ref, "fp32 file"));
  EXPECT_NEAR(p_fast, p_ref, 0.1);
  EXPECT_NEAR(double(fast.size()), double(ref.size()), 0.02 * ref.size());
}

TEST(Precision, NamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(parse_precision("fp32"), Precision::Fp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::Bf16);
  EXPECT_STREQ(precision_name(Precision::Bf16), "bf16");
  EXPECT_THROW(parse_precision("fp16"), Error);
}

}  // namespace
}  // namespace hrvq
