// Image files in and out: PNG (8/16 bit; gray, gray+alpha, RGB, RGBA, palette) and
// JPEG (gray, RGB). Pixels are always 8-bit interleaved (HWC) in memory, 1 or 3 channels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hrvq {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;               // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;    // height * width * channels bytes, row-major, interleaved

  uint8_t at(int y, int x, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

enum class ImageFormat { Png, Jpeg };

// What reading had to change to give an 8-bit gray or RGB image.
struct ImageReadNotes {
  bool dropped_alpha = false;     // the file had an alpha channel; it was discarded
  bool reduced_depth = false;     // 16-bit samples were rounded to 8 bits
  bool expanded_palette = false;
};

// Largest image accepted from a file: bounds memory before decoding (width*height).
constexpr uint64_t kMaxImagePixels = 1ull << 28;

// Decodes PNG or JPEG by its signature. `name` is used in error messages only.
// Throws hrvq::Error ("NAME: not a PNG or JPEG image", "NAME: CMYK JPEG is not supported", ...).
Image decode_image(const uint8_t* data, size_t size, const std::string& name, ImageReadNotes* notes = nullptr);
// Reads a file ("-" is stdin) and decodes it.
Image read_image(const std::string& path, ImageReadNotes* notes = nullptr);

// How PNG files are written: the zlib level (0-9) and the row filters libpng may choose
// from (a mask of PNG_FILTER_NONE/SUB/UP/AVG/PAETH bits, 0xf8 = all, libpng's adaptive
// default). filters = -1 is hrvq's choice for the level: none at 0, Paeth alone at 1-3,
// all at 4-9. Level 1 with Paeth is the default: on decoded photos it writes files 1%
// larger than libpng's defaults (level 6, all filters), 6.5 times as fast
// (bench/png-write.sh).
struct PngOptions {
  int level = -1;    // -1: kDefaultPngLevel
  int filters = -1;
};
constexpr int kDefaultPngLevel = 1;
std::vector<uint8_t> encode_png(const Image& image, const PngOptions& options = {});
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 90);

// Format from the extension (.png, .jpg, .jpeg, case-insensitive); throws for others.
ImageFormat image_format_from_path(const std::string& path);
// Encodes and writes atomically (temporary file renamed into place; "-" is stdout).
void write_image(const Image& image, const std::string& path, ImageFormat format, int jpeg_quality = 90,
                 bool overwrite = true, const PngOptions& png = {});

// Converts between gray and RGB (gray = ITU-R BT.601 luma, rounded).
Image convert_channels(const Image& image, int channels);

}  // namespace hrvq
