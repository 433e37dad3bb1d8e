// Rate targets on the bundled photo model and a real photograph: -q is monotone in size
// and PSNR, --bpp never exceeds its budget and takes the best prefix within it, --psnr
// takes the smallest prefix that reaches its target. Every file decodes unchanged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "photo_fixture.hpp"

namespace hrvq {
namespace {

class RateControlTest : public test::BundledPhotoTest {
 protected:
  static int maps_in(const std::vector<uint8_t>& file) { return parse_bitstream(file, "x").header.layers_present; }
  static std::vector<uint8_t> encode(RateTarget target) {
    EncodeOptions eo;
    eo.rate = target;
    return codec_->encode(*photo_, eo);
  }
};

TEST_F(RateControlTest, QualityIsMonotoneInSizeAndPsnr) {
  double last_bpp = 0, last_psnr = 0;
  int last_maps = 0;
  for (int q = 0; q <= 100; q += 10) {
    auto file = encode(RateTarget::quality(q));
    const double b = bpp(file), p = psnr_of(file);
    EXPECT_GE(maps_in(file), last_maps) << q;
    EXPECT_GE(b, last_bpp) << q;
    EXPECT_GE(p, last_psnr - 1e-9) << "q " << q << ": " << p << " dB after " << last_psnr;
    last_bpp = b, last_psnr = p, last_maps = maps_in(file);
  }
  EXPECT_EQ(last_maps, codec_->layers()) << "-q 100 writes every map";
  EXPECT_EQ(maps_in(encode(RateTarget::quality(0))), 1);
}

TEST_F(RateControlTest, BppNeverExceedsItsTargetAndTakesTheBestFit) {
  const auto full = encode(RateTarget::all());
  const double top = bpp(full);
  for (double target : {0.08, 0.15, 0.25, 0.4, 0.5, 0.75, 1.0, 1.5, 4.0}) {
    std::vector<uint8_t> file;
    try {
      file = encode(RateTarget::bpp(target));
    } catch (const Error& e) {
      // Only a budget below the one-map file may fail, and it says so.
      EXPECT_NE(std::string(e.what()).find("cannot meet --bpp"), std::string::npos) << e.what();
      EncodeOptions one;
      one.layers = 1;
      EXPECT_GT(bpp(codec_->encode(*photo_, one)), target);
      continue;
    }
    EXPECT_LE(bpp(file), target) << target;
    const int k = maps_in(file);
    if (k < codec_->layers()) {
      EncodeOptions next;
      next.layers = k + 1;
      EXPECT_GT(bpp(codec_->encode(*photo_, next)), target) << "one more map would still have fit";
    } else {
      EXPECT_LE(top, target);
    }
    EXPECT_EQ(codec_->decode(file, "x").pixels.size(), photo_->pixels.size());
  }
  EXPECT_THROW(encode(RateTarget::bpp(0.001)), Error);
}

TEST_F(RateControlTest, PsnrReachesItsTargetWithTheSmallestFile) {
  const double top = psnr_of(encode(RateTarget::all()));
  const double one = psnr_of(encode(RateTarget::layers(1)));
  ASSERT_GT(top, one);
  for (double target : {one - 1, one + 0.25 * (top - one), one + 0.5 * (top - one), top - 0.01}) {
    auto file = encode(RateTarget::psnr(target));
    EXPECT_GE(psnr_of(file), target);
    const int k = maps_in(file);
    if (k > 1) EXPECT_LT(psnr_of(encode(RateTarget::layers(k - 1))), target) << "a smaller prefix reaches " << target;
  }
  warnings().clear();
  auto file = encode(RateTarget::psnr(top + 10));
  EXPECT_EQ(maps_in(file), codec_->layers());
  ASSERT_EQ(warnings().size(), 1u);
  EXPECT_NE(warnings()[0].find("out of reach"), std::string::npos) << warnings()[0];
}

}  // namespace
}  // namespace hrvq
