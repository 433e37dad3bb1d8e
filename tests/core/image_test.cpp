#include "hrvq/image.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"

namespace {

using hrvq::Error;
using hrvq::Image;
using hrvq::ImageReadNotes;

// ---- fixtures, written with libpng / libjpeg directly so the decoder is checked against
// the reference encoders, not against our own.

void png_append(png_structp png, png_bytep data, size_t length) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}
void png_no_flush(png_structp) {}

struct PngSpec {
  int width = 0;
  int height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<uint8_t> packed;           // rows in file layout (16-bit samples big-endian)
  std::vector<png_color> palette;
  std::vector<uint8_t> palette_alpha;    // tRNS for palette images
  bool gray_trns = false;                // tRNS colour key for gray images
};

// Fixtures never fail; libpng aborts if they do, which fails the test loudly.
std::vector<uint8_t> make_png(const PngSpec& spec) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, png_append, png_no_flush);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.palette_alpha.empty())
    png_set_tRNS(png, info, spec.palette_alpha.data(), static_cast<int>(spec.palette_alpha.size()), nullptr);
  if (spec.gray_trns) {
    png_color_16 key{};
    key.gray = 0;
    png_set_tRNS(png, info, nullptr, 0, &key);
  }
  png_write_info(png, info);
  size_t rowbytes = spec.packed.size() / spec.height;
  std::vector<png_bytep> rows(spec.height);
  for (int y = 0; y < spec.height; ++y) rows[y] = const_cast<png_bytep>(spec.packed.data() + y * rowbytes);
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

int samples_per_pixel(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    case PNG_COLOR_TYPE_PALETTE: return 1;
  }
  return 0;
}

// Packs sample values (each < 2^bit_depth) into PNG rows.
std::vector<uint8_t> pack_rows(const std::vector<unsigned>& samples, int width, int height, int samples_per_px,
                               int bit_depth) {
  size_t row_samples = static_cast<size_t>(width) * samples_per_px;
  size_t rowbytes = (row_samples * bit_depth + 7) / 8;
  std::vector<uint8_t> out(rowbytes * height, 0);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = out.data() + y * rowbytes;
    for (size_t i = 0; i < row_samples; ++i) {
      unsigned v = samples[y * row_samples + i];
      if (bit_depth == 16) {
        row[2 * i] = static_cast<uint8_t>(v >> 8);
        row[2 * i + 1] = static_cast<uint8_t>(v & 0xFF);
      } else if (bit_depth == 8) {
        row[i] = static_cast<uint8_t>(v);
      } else {
        size_t bit = i * bit_depth;
        row[bit / 8] |= static_cast<uint8_t>(v << (8 - bit_depth - bit % 8));
      }
    }
  }
  return out;
}

std::vector<unsigned> random_samples(size_t count, unsigned max_value, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<unsigned> dist(0, max_value);
  std::vector<unsigned> out(count);
  for (auto& v : out) v = dist(rng);
  return out;
}

uint8_t scale_to_8(unsigned v, int bit_depth) {
  unsigned max = (1u << bit_depth) - 1;
  return static_cast<uint8_t>(std::lround(v * 255.0 / max));
}

enum class JpegKind { Gray, Rgb, Cmyk, Ycck };

std::vector<uint8_t> make_jpeg(int width, int height, JpegKind kind, int quality = 95, bool progressive = false) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  int components = kind == JpegKind::Gray ? 1 : kind == JpegKind::Rgb ? 3 : 4;
  cinfo.input_components = components;
  cinfo.in_color_space = kind == JpegKind::Gray ? JCS_GRAYSCALE : kind == JpegKind::Rgb ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  if (kind == JpegKind::Ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(width) * components);
  while (cinfo.next_scanline < cinfo.image_height) {
    int y = static_cast<int>(cinfo.next_scanline);
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < components; ++c)
        row[x * components + c] = static_cast<uint8_t>(std::min(255, x * 150 / std::max(1, width - 1) + y + c * 20));
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

// A smooth test picture: gradients and a soft blob, the kind of content JPEG handles well.
Image smooth_image(int width, int height, int channels) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<size_t>(width) * height * channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double fx = x / double(width), fy = y / double(height);
        double v = 128 + 60 * std::sin(6.28 * fx + c) * std::cos(3.14 * fy) + 40 * (fx - fy);
        img.pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(std::max(0.0, std::min(255.0, v)));
      }
  return img;
}

Image random_image(int width, int height, int channels, unsigned seed) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  auto s = random_samples(static_cast<size_t>(width) * height * channels, 255, seed);
  img.pixels.assign(s.begin(), s.end());
  return img;
}

double psnr(const Image& a, const Image& b) {
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    double d = double(a.pixels[i]) - double(b.pixels[i]);
    se += d * d;
  }
  double mse = se / a.pixels.size();
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

Image decode(const std::vector<uint8_t>& bytes, ImageReadNotes* notes = nullptr) {
  return hrvq::decode_image(bytes.data(), bytes.size(), "pic", notes);
}

std::string decode_error(const std::vector<uint8_t>& bytes, const std::string& name = "pic") {
  try {
    hrvq::decode_image(bytes.data(), bytes.size(), name);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void put_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// Rewrites IHDR's width and height and fixes its CRC, so only the size is wrong.
std::vector<uint8_t> with_png_size(std::vector<uint8_t> png, uint32_t width, uint32_t height) {
  // signature(8) length(4) "IHDR"(4) data(13) crc(4)
  put_be32(&png[16], width);
  put_be32(&png[20], height);
  put_be32(&png[29], static_cast<uint32_t>(crc32(0, &png[12], 17)));
  return png;
}

// ---- PNG decoding: every colour type and depth

struct PngCase {
  int color_type;
  int bit_depth;
};

class ImagePngDecode : public ::testing::TestWithParam<PngCase> {};

TEST_P(ImagePngDecode, MatchesSamples) {
  const PngCase pc = GetParam();
  const int w = 13, h = 7;  // odd sizes exercise sub-byte row padding
  int spp = samples_per_pixel(pc.color_type);
  unsigned max_value = (1u << pc.bit_depth) - 1;
  auto samples = random_samples(static_cast<size_t>(w) * h * spp, max_value, 17 + pc.color_type * 31 + pc.bit_depth);
  for (bool interlaced : {false, true}) {
    PngSpec spec;
    spec.width = w;
    spec.height = h;
    spec.color_type = pc.color_type;
    spec.bit_depth = pc.bit_depth;
    spec.interlaced = interlaced;
    spec.packed = pack_rows(samples, w, h, spp, pc.bit_depth);
    ImageReadNotes notes;
    Image img = decode(make_png(spec), &notes);
    bool color = (pc.color_type & PNG_COLOR_MASK_COLOR) != 0;
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    ASSERT_EQ(img.channels, color ? 3 : 1);
    ASSERT_EQ(img.pixels.size(), size_t(w) * h * img.channels);
    EXPECT_EQ(notes.dropped_alpha, (pc.color_type & PNG_COLOR_MASK_ALPHA) != 0);
    EXPECT_EQ(notes.reduced_depth, pc.bit_depth == 16);
    EXPECT_FALSE(notes.expanded_palette);
    int color_samples = color ? 3 : 1;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < color_samples; ++c) {
          unsigned v = samples[(static_cast<size_t>(y) * w + x) * spp + c];
          ASSERT_EQ(img.at(y, x, c), scale_to_8(v, pc.bit_depth))
              << "interlaced=" << interlaced << " y=" << y << " x=" << x << " c=" << c << " v=" << v;
        }
  }
}

INSTANTIATE_TEST_SUITE_P(Image, ImagePngDecode,
                         ::testing::Values(PngCase{PNG_COLOR_TYPE_GRAY, 1}, PngCase{PNG_COLOR_TYPE_GRAY, 2},
                                           PngCase{PNG_COLOR_TYPE_GRAY, 4}, PngCase{PNG_COLOR_TYPE_GRAY, 8},
                                           PngCase{PNG_COLOR_TYPE_GRAY, 16}, PngCase{PNG_COLOR_TYPE_GRAY_ALPHA, 8},
                                           PngCase{PNG_COLOR_TYPE_GRAY_ALPHA, 16}, PngCase{PNG_COLOR_TYPE_RGB, 8},
                                           PngCase{PNG_COLOR_TYPE_RGB, 16}, PngCase{PNG_COLOR_TYPE_RGB_ALPHA, 8},
                                           PngCase{PNG_COLOR_TYPE_RGB_ALPHA, 16}),
                         [](const ::testing::TestParamInfo<PngCase>& info) {
                           return "type" + std::to_string(info.param.color_type) + "_depth" +
                                  std::to_string(info.param.bit_depth);
                         });

TEST(ImagePng, SixteenBitRoundsToNearest) {
  // 16-bit v maps to round(v / 257); truncation would give 0 for 128 and 254 for 65407.
  std::vector<unsigned> samples = {0, 128, 129, 385, 32896, 65407, 65408, 65535};
  PngSpec spec;
  spec.width = static_cast<int>(samples.size());
  spec.height = 1;
  spec.bit_depth = 16;
  spec.packed = pack_rows(samples, spec.width, 1, 1, 16);
  Image img = decode(make_png(spec));
  for (size_t i = 0; i < samples.size(); ++i)
    EXPECT_EQ(img.pixels[i], scale_to_8(samples[i], 16)) << "v=" << samples[i];
}

TEST(ImagePng, PaletteAllDepths) {
  for (int depth : {1, 2, 4, 8}) {
    const int w = 11, h = 5;
    int entries = 1 << depth;
    std::vector<png_color> palette(entries);
    for (int i = 0; i < entries; ++i)
      palette[i] = png_color{uint8_t(i * 37 % 256), uint8_t(255 - i), uint8_t(i * 5 % 256)};
    auto idx = random_samples(size_t(w) * h, entries - 1, 100 + depth);
    PngSpec spec;
    spec.width = w;
    spec.height = h;
    spec.color_type = PNG_COLOR_TYPE_PALETTE;
    spec.bit_depth = depth;
    spec.palette = palette;
    spec.packed = pack_rows(idx, w, h, 1, depth);
    ImageReadNotes notes;
    Image img = decode(make_png(spec), &notes);
    ASSERT_EQ(img.channels, 3);
    EXPECT_TRUE(notes.expanded_palette);
    EXPECT_FALSE(notes.dropped_alpha);
    EXPECT_FALSE(notes.reduced_depth);
    for (int i = 0; i < w * h; ++i) {
      const png_color& p = palette[idx[i]];
      ASSERT_EQ(img.pixels[3 * i], p.red) << "depth " << depth;
      ASSERT_EQ(img.pixels[3 * i + 1], p.green);
      ASSERT_EQ(img.pixels[3 * i + 2], p.blue);
    }
  }
}

TEST(ImagePng, PaletteWithTransparencyDropsAlpha) {
  const int w = 6, h = 4;
  std::vector<png_color> palette = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}, {7, 8, 9}};
  auto idx = random_samples(size_t(w) * h, 3, 5);
  PngSpec spec;
  spec.width = w;
  spec.height = h;
  spec.color_type = PNG_COLOR_TYPE_PALETTE;
  spec.bit_depth = 2;
  spec.palette = palette;
  spec.palette_alpha = {0, 128};  // shorter than the palette, as the format allows
  spec.packed = pack_rows(idx, w, h, 1, 2);
  ImageReadNotes notes;
  Image img = decode(make_png(spec), &notes);
  ASSERT_EQ(img.channels, 3);
  EXPECT_TRUE(notes.dropped_alpha);
  EXPECT_TRUE(notes.expanded_palette);
  for (int i = 0; i < w * h; ++i) {
    ASSERT_EQ(img.pixels[3 * i], palette[idx[i]].red);
    ASSERT_EQ(img.pixels[3 * i + 2], palette[idx[i]].blue);
  }
}

TEST(ImagePng, GrayColourKeyIsNotedAsDroppedAlpha) {
  PngSpec spec;
  spec.width = 3;
  spec.height = 1;
  spec.packed = {0, 100, 255};
  spec.gray_trns = true;
  ImageReadNotes notes;
  Image img = decode(make_png(spec), &notes);
  EXPECT_TRUE(notes.dropped_alpha);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0, 100, 255}));
}

TEST(ImagePng, RoundTripIsExact) {
  for (int channels : {1, 3})
    for (auto [w, h] : {std::pair{1, 1}, std::pair{17, 3}, std::pair{64, 48}}) {
      Image img = random_image(w, h, channels, w * 7 + channels);
      Image back = decode(hrvq::encode_png(img));
      EXPECT_EQ(back.width, w);
      EXPECT_EQ(back.height, h);
      EXPECT_EQ(back.channels, channels);
      EXPECT_EQ(back.pixels, img.pixels);
    }
}

// Every level and filter choice is lossless; the levels trade size for speed on a smooth
// image (random pixels would not compress at any level).
TEST(ImagePng, LevelsAndFiltersAreLosslessAndTradeSize) {
  Image img;
  img.width = 96;
  img.height = 64;
  img.channels = 3;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels.push_back(static_cast<uint8_t>(128 + 60 * std::sin(0.07 * x * (c + 1)) * std::cos(0.05 * y) +
                                                  (x * 31 + y * 17 + c) % 5));
  std::vector<size_t> sizes;
  for (int level = 0; level <= 9; ++level) {
    for (int filters : {-1, PNG_FILTER_NONE, PNG_FILTER_PAETH, PNG_ALL_FILTERS}) {
      auto bytes = hrvq::encode_png(img, hrvq::PngOptions{level, filters});
      EXPECT_EQ(decode(bytes).pixels, img.pixels) << "level " << level << " filters " << filters;
      if (filters == -1) sizes.push_back(bytes.size());
    }
  }
  EXPECT_GT(sizes[0], sizes[1]) << "level 0 stores, level 1 compresses";
  EXPECT_GT(sizes[1], sizes[9]) << "level 9 is smaller than the fast default";
  EXPECT_EQ(hrvq::encode_png(img), hrvq::encode_png(img, hrvq::PngOptions{hrvq::kDefaultPngLevel, PNG_FILTER_PAETH}));
  EXPECT_THROW(hrvq::encode_png(img, hrvq::PngOptions{10, -1}), hrvq::Error);
  EXPECT_THROW(hrvq::encode_png(img, hrvq::PngOptions{1, 0}), hrvq::Error);
  EXPECT_THROW(hrvq::encode_png(img, hrvq::PngOptions{1, 0x03}), hrvq::Error);
}

TEST(ImagePng, HugeDimensionsRejectedBeforeDecoding) {
  PngSpec spec;
  spec.width = 1;
  spec.height = 1;
  spec.packed = {42};
  auto png = make_png(spec);
  std::string msg = decode_error(with_png_size(png, 100000, 100000));
  EXPECT_NE(msg.find("pic: image is too large"), std::string::npos) << msg;
  // Beyond libpng's own 1e6 default per-side limit but within our pixel bound: the size
  // is accepted and the (now too short) data is what fails.
  msg = decode_error(with_png_size(png, 2000000, 1));
  EXPECT_EQ(msg.find("too large"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("pic: ", 0), 0u) << msg;
}

TEST(ImagePng, ZeroWidthIsAnError) {
  PngSpec spec;
  spec.width = 1;
  spec.height = 1;
  spec.packed = {42};
  std::string msg = decode_error(with_png_size(make_png(spec), 0, 1));
  EXPECT_EQ(msg.rfind("pic: ", 0), 0u) << msg;
}

TEST(ImagePng, TruncatedFilesAreErrors) {
  PngSpec spec;
  spec.width = 40;
  spec.height = 30;
  spec.color_type = PNG_COLOR_TYPE_RGB;
  spec.packed = pack_rows(random_samples(40 * 30 * 3, 255, 9), 40, 30, 3, 8);
  auto png = make_png(spec);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(12), size_t(20), size_t(33), size_t(40),
                   png.size() / 2, png.size() - 13, png.size() - 12, png.size() - 4, png.size() - 1}) {
    std::vector<uint8_t> prefix(png.begin(), png.begin() + n);
    std::string msg = decode_error(prefix, "cut.png");
    EXPECT_EQ(msg.rfind("cut.png: ", 0), 0u) << "prefix " << n << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    if (n >= 8 && n < png.size()) EXPECT_NE(msg.find("truncated"), std::string::npos) << "prefix " << n << ": " << msg;
  }
}

TEST(ImagePng, CorruptDataIsAnError) {
  PngSpec spec;
  spec.width = 20;
  spec.height = 20;
  spec.packed = pack_rows(random_samples(400, 255, 3), 20, 20, 1, 8);
  auto png = make_png(spec);
  auto bad = png;
  bad[png.size() / 2] ^= 0x5A;  // inside IDAT: the CRC no longer matches
  std::string msg = decode_error(bad);
  EXPECT_NE(msg.find("pic: invalid PNG"), std::string::npos) << msg;
}

// ---- JPEG decoding

TEST(ImageJpeg, DecodesGray) {
  auto jpeg = make_jpeg(33, 17, JpegKind::Gray);
  ImageReadNotes notes;
  notes.dropped_alpha = true;  // must be reset
  Image img = decode(jpeg, &notes);
  EXPECT_EQ(img.width, 33);
  EXPECT_EQ(img.height, 17);
  EXPECT_EQ(img.channels, 1);
  EXPECT_FALSE(notes.dropped_alpha);
  // Content check: the fixture's gradient survives within JPEG error.
  EXPECT_NEAR(img.at(0, 32, 0), 150, 12);
  EXPECT_NEAR(img.at(0, 0, 0), 0, 12);
}

TEST(ImageJpeg, DecodesRgbAndProgressive) {
  for (bool progressive : {false, true}) {
    Image img = decode(make_jpeg(40, 24, JpegKind::Rgb, 95, progressive));
    EXPECT_EQ(img.width, 40);
    EXPECT_EQ(img.height, 24);
    EXPECT_EQ(img.channels, 3);
    EXPECT_NEAR(img.at(0, 39, 0), 150, 16);
    EXPECT_NEAR(img.at(0, 0, 1), 20, 16);
  }
}

TEST(ImageJpeg, CmykAndYcckAreRejected) {
  EXPECT_EQ(decode_error(make_jpeg(16, 16, JpegKind::Cmyk), "print.jpg"), "print.jpg: CMYK JPEG is not supported");
  EXPECT_EQ(decode_error(make_jpeg(16, 16, JpegKind::Ycck), "print.jpg"), "print.jpg: CMYK JPEG is not supported");
}

TEST(ImageJpeg, RoundTripIsClose) {
  for (int channels : {1, 3}) {
    Image img = smooth_image(96, 64, channels);
    auto bytes = hrvq::encode_jpeg(img, 95);
    Image back = decode(bytes);
    ASSERT_EQ(back.channels, channels);
    ASSERT_EQ(back.width, 96);
    ASSERT_EQ(back.height, 64);
    EXPECT_GT(psnr(img, back), 30.0) << channels << " channels";
  }
}

TEST(ImageJpeg, QualityChangesSizeAndIsBounded) {
  Image img = random_image(32, 32, 3, 1);
  EXPECT_LT(hrvq::encode_jpeg(img, 10).size(), hrvq::encode_jpeg(img, 95).size());
  EXPECT_NO_THROW(hrvq::encode_jpeg(img, 1));
  EXPECT_NO_THROW(hrvq::encode_jpeg(img, 100));
  EXPECT_THROW(hrvq::encode_jpeg(img, 0), Error);
  EXPECT_THROW(hrvq::encode_jpeg(img, 101), Error);
}

TEST(ImageJpeg, TruncatedFilesAreErrors) {
  for (bool progressive : {false, true}) {
    auto jpeg = make_jpeg(48, 40, JpegKind::Rgb, 90, progressive);
    for (size_t n : {size_t(0), size_t(2), size_t(3), size_t(10), size_t(100), size_t(200), jpeg.size() / 2,
                     jpeg.size() - 10, jpeg.size() - 2, jpeg.size() - 1}) {
      std::vector<uint8_t> prefix(jpeg.begin(), jpeg.begin() + n);
      std::string msg = decode_error(prefix, "cut.jpg");
      EXPECT_EQ(msg.rfind("cut.jpg: ", 0), 0u) << "prefix " << n << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

TEST(ImageJpeg, HugeAndEmptyDimensionsRejected) {
  auto jpeg = make_jpeg(8, 8, JpegKind::Gray);
  // Find the SOF0 marker: FF C0, length(2), precision(1), height(2), width(2).
  size_t sof = 0;
  for (size_t i = 2; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  ASSERT_NE(sof, 0u);
  auto huge = jpeg;
  // 65000 x 65000: within libjpeg's 65500 per side, far beyond our pixel bound.
  huge[sof + 5] = huge[sof + 7] = 0xFD;
  huge[sof + 6] = huge[sof + 8] = 0xE8;
  std::string msg = decode_error(huge);
  EXPECT_NE(msg.find("pic: image is too large"), std::string::npos) << msg;
  auto empty = jpeg;
  empty[sof + 5] = empty[sof + 6] = 0;
  msg = decode_error(empty);
  EXPECT_EQ(msg.rfind("pic: ", 0), 0u) << msg;
}

TEST(ImageJpeg, TooManyProgressiveScansIsAnError) {
  auto jpeg = make_jpeg(16, 16, JpegKind::Gray, 90, true);
  // The first scan (DC, first pass) decodes the same way whatever came before, so copies
  // of it, each with the Huffman table it needs, make a long but decodable file.
  size_t sos = 0;
  for (size_t i = 2; i + 1 < jpeg.size() && !sos; ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) sos = i;
  size_t dht = 0;
  for (size_t i = 2; i < sos; ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) dht = i;
  ASSERT_NE(sos, 0u);
  ASSERT_NE(dht, 0u);
  size_t end = sos + 2 + (size_t(jpeg[sos + 2]) << 8 | jpeg[sos + 3]);
  while (end + 1 < jpeg.size() && !(jpeg[end] == 0xFF && jpeg[end + 1] != 0 && (jpeg[end + 1] & 0xF8) != 0xD0)) ++end;
  std::vector<uint8_t> scan(jpeg.begin() + dht, jpeg.begin() + end);
  std::vector<uint8_t> bomb(jpeg.begin(), jpeg.end() - 2);  // without EOI
  for (int i = 0; i < 600; ++i) bomb.insert(bomb.end(), scan.begin(), scan.end());
  bomb.push_back(0xFF);
  bomb.push_back(0xD9);
  std::string msg = decode_error(bomb);
  EXPECT_EQ(msg, "pic: invalid JPEG: more than 500 progressive scans");
  // The same splice with few copies decodes: the limit, not the splice, is what failed.
  std::vector<uint8_t> few(jpeg.begin(), jpeg.end() - 2);
  for (int i = 0; i < 20; ++i) few.insert(few.end(), scan.begin(), scan.end());
  few.push_back(0xFF);
  few.push_back(0xD9);
  EXPECT_NO_THROW(decode(few));
}

TEST(ImageJpeg, CorruptEntropyDataNeverCrashes) {
  auto jpeg = make_jpeg(64, 64, JpegKind::Rgb);
  std::mt19937 rng(4);
  for (int trial = 0; trial < 50; ++trial) {
    auto bad = jpeg;
    for (int k = 0; k < 8; ++k) bad[std::uniform_int_distribution<size_t>(2, bad.size() - 1)(rng)] ^= 0xFF;
    try {
      Image img = decode(bad);
      EXPECT_EQ(img.pixels.size(), size_t(img.width) * img.height * img.channels);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("pic: ", 0), 0u) << e.what();
    }
  }
}

// ---- neither

TEST(ImageDecode, GarbageIsNotAnImage) {
  std::vector<uint8_t> garbage = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  EXPECT_EQ(decode_error(garbage, "notes.txt"), "notes.txt: not a PNG or JPEG image");
  EXPECT_EQ(decode_error({}, "empty"), "empty: not a PNG or JPEG image");
  EXPECT_THROW(hrvq::decode_image(nullptr, 0, "null"), Error);
}

TEST(ImageDecode, RandomBytesAfterSignaturesAreErrors) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<uint8_t> bytes(std::uniform_int_distribution<size_t>(0, 400)(rng));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    png.insert(png.end(), bytes.begin(), bytes.end());
    std::vector<uint8_t> jpg = {0xFF, 0xD8, 0xFF};
    jpg.insert(jpg.end(), bytes.begin(), bytes.end());
    EXPECT_EQ(decode_error(png).rfind("pic: ", 0), 0u);
    EXPECT_EQ(decode_error(jpg).rfind("pic: ", 0), 0u);
  }
}

// ---- formats, conversion, files

TEST(ImageFormat, FromExtension) {
  EXPECT_EQ(hrvq::image_format_from_path("a.png"), hrvq::ImageFormat::Png);
  EXPECT_EQ(hrvq::image_format_from_path("dir/A.PNG"), hrvq::ImageFormat::Png);
  EXPECT_EQ(hrvq::image_format_from_path("x.jpg"), hrvq::ImageFormat::Jpeg);
  EXPECT_EQ(hrvq::image_format_from_path("x.JPEG"), hrvq::ImageFormat::Jpeg);
  EXPECT_EQ(hrvq::image_format_from_path("my.dir/x.Jpg"), hrvq::ImageFormat::Jpeg);
  for (std::string bad : {"x.gif", "png", "noext", "dir.png/file", "-", "x.png.bak"}) {
    try {
      hrvq::image_format_from_path(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), bad + ": unknown image extension (use --format png|jpeg)");
    }
  }
}

TEST(ImageConvert, GrayAndRgb) {
  Image rgb;
  rgb.width = 3;
  rgb.height = 1;
  rgb.channels = 3;
  rgb.pixels = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  Image gray = hrvq::convert_channels(rgb, 1);
  EXPECT_EQ(gray.channels, 1);
  // 0.299*255 = 76.2, 0.587*255 = 149.7, 0.299*10+0.587*20+0.114*30 = 18.15
  EXPECT_EQ(gray.pixels, (std::vector<uint8_t>{76, 150, 18}));
  Image back = hrvq::convert_channels(gray, 3);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, (std::vector<uint8_t>{76, 76, 76, 150, 150, 150, 18, 18, 18}));
  EXPECT_EQ(hrvq::convert_channels(rgb, 3).pixels, rgb.pixels);
  EXPECT_THROW(hrvq::convert_channels(rgb, 2), Error);
}

TEST(ImageEncode, InvalidImagesAreErrors) {
  Image img;
  EXPECT_THROW(hrvq::encode_png(img), Error);
  EXPECT_THROW(hrvq::encode_jpeg(img), Error);
  img = random_image(4, 4, 3, 2);
  img.pixels.pop_back();
  EXPECT_THROW(hrvq::encode_png(img), Error);
}

class ImageFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hrvq-image-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(mkdtemp(buf.data()), nullptr);
    dir_ = buf.data();
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }
  std::string dir_;
};

TEST_F(ImageFiles, WriteAndReadBack) {
  Image img = smooth_image(30, 20, 3);
  std::string png = dir_ + "/out.png", jpg = dir_ + "/out.JPG";
  hrvq::write_image(img, png, hrvq::image_format_from_path(png));
  hrvq::write_image(img, jpg, hrvq::image_format_from_path(jpg), 95);
  EXPECT_EQ(hrvq::read_image(png).pixels, img.pixels);
  EXPECT_GT(psnr(hrvq::read_image(jpg), img), 30.0);
  EXPECT_THROW(hrvq::write_image(img, png, hrvq::ImageFormat::Png, 90, false), Error);
  try {
    hrvq::read_image(dir_ + "/missing.png");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir_ + "/missing.png: No such file or directory");
  }
}

}  // namespace
