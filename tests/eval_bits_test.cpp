// eval recon --bits: the entropy-coded size it reports is the size of the .hrvq files the
// codec writes for the same images, prefix by prefix.
#include <gtest/gtest.h>

#include <filesystem>

#include "codec_support.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "hrvq/eval.hpp"
#include "hrvq/file_io.hpp"

namespace hrvq {
namespace {

TEST(EvalBits, MatchesTheCodecsFiles) {
  codec_test::TempDir dir;
  ModelConfig c = codec_test::tiny_config();
  c.embed_dim = 8;
  c.groups = 2;
  c.layers = 2;
  auto path = codec_test::make_model(dir / "m.hrvqm", c, 7);  // trained size 32, center fit
  std::filesystem::create_directories(dir / "images");
  std::vector<Image> images;
  for (uint32_t i = 0; i < 3; ++i) {
    images.push_back(codec_test::test_image(32, 32, 3, 10 + i));
    write_file_atomic(dir / ("images/" + std::to_string(i) + ".png"), encode_png(images.back()));
  }
  CodecOptions co;
  co.device = "cpu";
  Codec codec(path, co);
  for (const char* coder : {"rans-ctx", "rans", "raw"}) {
    ReconOptions o;
    o.model = path;
    o.data = dir / "images";
    o.device = "cpu";
    o.bits = true;
    o.coder = coder;
    ReconReport r = evaluate_reconstruction(o);
    ASSERT_EQ(r.file_bits_by_layers.size(), 4u);
    EncodeOptions eo;
    eo.coder = parse_coder(coder);
    for (int k = 1; k <= 4; ++k) {
      double want = 0;
      for (const auto& im : images) {
        eo.layers = k;
        want += 8.0 * codec.encode(im, eo).size();
      }
      EXPECT_DOUBLE_EQ(r.file_bits_by_layers[k - 1], want / 3) << coder << " k=" << k;
    }
    EXPECT_DOUBLE_EQ(r.raw_bits_per_image, 8 * 8 * 4 * 2.0) << "8x8 positions, 4 maps of 2 bits";
    EXPECT_NE(recon_report_json(r).find("\"file_bits_by_layers\""), std::string::npos);
    EXPECT_NE(recon_report_table(r).find("file bits/image"), std::string::npos);
  }
}

}  // namespace
}  // namespace hrvq
