// A test suite's shared bundled photo model and real photograph (a BSDS500 test image),
// loaded once per suite: the rate-control tests measure real behaviour on them.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hrvq/codec.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/image_quality.hpp"

namespace hrvq::test {

class BundledPhotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CodecOptions o;
    o.device = "cpu";
    o.warn = [](const std::string& w) { warnings().push_back(w); };
    codec_ = new Codec(std::string(HRVQ_SOURCE_DIR) + "/models/photo.hrvqm", o);
    auto bytes = read_file(std::string(HRVQ_TESTDATA) + "/photos/bsds500-test-108004.jpg");
    photo_ = new Image(decode_image(bytes.data(), bytes.size(), "photo"));
  }
  static void TearDownTestSuite() {
    delete codec_;
    delete photo_;
    codec_ = nullptr;
    photo_ = nullptr;
  }
  static std::vector<std::string>& warnings() {
    static std::vector<std::string> w;
    return w;
  }
  static double bpp(const std::vector<uint8_t>& file) { return 8.0 * file.size() / (double(photo_->width) * photo_->height); }
  static double psnr_of(const std::vector<uint8_t>& file) { return psnr(*photo_, codec_->decode(file, "x")); }

  static inline Codec* codec_ = nullptr;
  static inline Image* photo_ = nullptr;
};

}  // namespace hrvq::test
