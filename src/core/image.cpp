#include "hrvq/image.hpp"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// jpeglib.h needs FILE and size_t declared before it.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include <fmt/format.h>

#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"

// libpng and libjpeg report errors by longjmp. Every function below that calls setjmp is
// C-style: it holds no C++ object with a destructor, because longjmp would skip it. The
// C++ callers own the library structs through guards and do all allocation and throwing.

namespace hrvq {

namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool is_png(const uint8_t* data, size_t size) {
  return size >= sizeof(kPngSignature) && std::memcmp(data, kPngSignature, sizeof(kPngSignature)) == 0;
}

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

void check_dimensions(uint64_t width, uint64_t height, const std::string& name) {
  if (width == 0 || height == 0) throw Error(fmt::format("{}: image has zero width or height", name));
  if (width * height > kMaxImagePixels)
    throw Error(fmt::format("{}: image is too large ({}x{} pixels; at most {} pixels are accepted)", name, width,
                            height, kMaxImagePixels));
}

void check_encodable(const Image& image, const char* what) {
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels)
    throw Error(fmt::format("cannot encode {}: invalid image ({}x{}, {} channels, {} bytes)", what, image.width,
                            image.height, image.channels, image.pixels.size()));
}

// ---------------------------------------------------------------------------------------
// PNG

// Shared by the read/write callbacks and the error handler; plain data so it may live
// across longjmp.
struct PngIo {
  const uint8_t* data = nullptr;  // reading
  size_t size = 0;
  size_t pos = 0;
  std::vector<uint8_t>* out = nullptr;  // writing
  bool truncated = false;
  char message[256] = {0};
};

void png_error_cb(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->message, sizeof(io->message), "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep out, size_t length) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (length > io->size - io->pos) {
    io->truncated = true;
    png_error(png, "truncated file");
  }
  std::memcpy(out, io->data + io->pos, length);
  io->pos += length;
}

void png_write_cb(png_structp png, png_bytep data, size_t length) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    io->out->insert(io->out->end(), data, data + length);
  } catch (...) {
    ok = false;
  }
  // Outside the handler: longjmp out of a catch block would leak the exception.
  if (!ok) png_error(png, "out of memory");
}

void png_flush_cb(png_structp) {}

struct PngHeader {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  bool has_trns = false;
};

bool png_read_header_c(png_structp png, png_infop info, PngHeader* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  // libpng's own default limit (1e6 per side) would reject legal long strips; our bound is
  // on the pixel count and is checked by the caller.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  int interlace = 0;
  png_get_IHDR(png, info, &header->width, &header->height, &header->bit_depth, &header->color_type, &interlace,
               nullptr, nullptr);
  header->has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  return true;
}

struct PngLayout {
  int channels = 0;
  int bit_depth = 0;
  size_t rowbytes = 0;
};

bool png_setup_transforms_c(png_structp png, png_infop info, const PngHeader* header, PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (header->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (header->color_type == PNG_COLOR_TYPE_GRAY && header->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // scale_16 rounds; strip_16 would truncate.
  if (header->bit_depth == 16) png_set_scale_16(png);
  if ((header->color_type & PNG_COLOR_MASK_ALPHA) != 0 || header->has_trns) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->channels = png_get_channels(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->rowbytes = png_get_rowbytes(png, info);
  return true;
}

bool png_read_pixels_c(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  // Reads through IEND, so a file cut after its image data is still reported.
  png_read_end(png, nullptr);
  return true;
}

struct PngReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadGuard() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

[[noreturn]] void throw_png_error(const PngIo& io, const std::string& name) {
  if (io.truncated) throw Error(fmt::format("{}: truncated PNG file", name));
  throw Error(fmt::format("{}: invalid PNG: {}", name, io.message));
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name, ImageReadNotes* notes) {
  PngIo io;
  io.data = data;
  io.size = size;
  PngReadGuard guard;
  guard.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_error_cb, png_warning_cb);
  if (!guard.png) throw Error(fmt::format("{}: cannot initialise the PNG decoder", name));
  guard.info = png_create_info_struct(guard.png);
  if (!guard.info) throw Error(fmt::format("{}: cannot initialise the PNG decoder", name));
  png_set_read_fn(guard.png, &io, png_read_cb);

  PngHeader header;
  if (!png_read_header_c(guard.png, guard.info, &header)) throw_png_error(io, name);
  check_dimensions(header.width, header.height, name);

  PngLayout layout;
  if (!png_setup_transforms_c(guard.png, guard.info, &header, &layout)) throw_png_error(io, name);
  if (layout.bit_depth != 8 || (layout.channels != 1 && layout.channels != 3) ||
      layout.rowbytes != static_cast<size_t>(header.width) * layout.channels)
    throw Error(fmt::format("{}: unsupported PNG layout (color type {}, bit depth {})", name, header.color_type,
                            header.bit_depth));

  Image image;
  image.width = static_cast<int>(header.width);
  image.height = static_cast<int>(header.height);
  image.channels = layout.channels;
  image.pixels.resize(layout.rowbytes * header.height);
  std::vector<png_bytep> rows(header.height);
  for (png_uint_32 y = 0; y < header.height; ++y) rows[y] = image.pixels.data() + y * layout.rowbytes;
  if (!png_read_pixels_c(guard.png, rows.data())) throw_png_error(io, name);

  if (notes) {
    notes->dropped_alpha = (header.color_type & PNG_COLOR_MASK_ALPHA) != 0 || header.has_trns;
    notes->reduced_depth = header.bit_depth == 16;
    notes->expanded_palette = header.color_type == PNG_COLOR_TYPE_PALETTE;
  }
  return image;
}

bool png_encode_c(png_structp png, png_infop info, png_uint_32 width, png_uint_32 height, int color_type,
                  png_bytepp rows, int level, int filters) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_compression_level(png, level);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

struct PngWriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriteGuard() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

// ---------------------------------------------------------------------------------------
// JPEG

struct JpegErrorMgr {
  jpeg_error_mgr pub;  // first, so libjpeg's pointer to it is also a pointer to us
  jmp_buf jump;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit_cb(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg only warns about data that ends early or is corrupt, and then hands back an image
// padded with gray. hrvq must not encode a damaged image as if it were whole, so those
// warnings are fatal; the harmless ones (unknown JFIF revision, stray bytes between
// markers) are ignored like trace messages.
void jpeg_emit_message_cb(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  auto* err = reinterpret_cast<JpegErrorMgr*>(cinfo->err);
  err->pub.num_warnings++;
  switch (err->pub.msg_code) {
    case JWRN_JPEG_EOF:
      err->truncated = true;
      jpeg_error_exit_cb(cinfo);
      break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
      jpeg_error_exit_cb(cinfo);
      break;
    default:
      break;
  }
}

void jpeg_output_message_cb(j_common_ptr) {}

// Each progressive scan costs a pass over the whole coefficient buffer, so a small file
// with thousands of tiny scans takes minutes. Real encoders use about ten; TurboJPEG's own
// limit is 500.
constexpr int kMaxJpegScans = 500;

void jpeg_progress_cb(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > kMaxJpegScans) {
    auto* err = reinterpret_cast<JpegErrorMgr*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(err->jump, 1);
  }
}

void init_jpeg_error_mgr(JpegErrorMgr* err) {
  jpeg_std_error(&err->pub);
  err->pub.error_exit = jpeg_error_exit_cb;
  err->pub.emit_message = jpeg_emit_message_cb;
  err->pub.output_message = jpeg_output_message_cb;
  err->truncated = false;
  err->message[0] = '\0';
}

bool jpeg_read_header_c(jpeg_decompress_struct* cinfo, JpegErrorMgr* err, jpeg_progress_mgr* progress,
                        const uint8_t* data, size_t size) {
  cinfo->err = &err->pub;
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  progress->progress_monitor = jpeg_progress_cb;
  cinfo->progress = progress;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  return true;
}

bool jpeg_start_c(jpeg_decompress_struct* cinfo, JpegErrorMgr* err) {
  if (setjmp(err->jump)) return false;
  jpeg_start_decompress(cinfo);
  return true;
}

bool jpeg_read_pixels_c(jpeg_decompress_struct* cinfo, JpegErrorMgr* err, uint8_t* pixels, size_t stride) {
  if (setjmp(err->jump)) return false;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = pixels + static_cast<size_t>(cinfo->output_scanline) * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

struct JpegDecompressGuard {
  jpeg_decompress_struct cinfo;
  jpeg_progress_mgr progress;
  JpegDecompressGuard() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    std::memset(&progress, 0, sizeof(progress));
  }
  // Safe on a struct whose creation failed: libjpeg checks for its memory manager.
  ~JpegDecompressGuard() { jpeg_destroy_decompress(&cinfo); }
};

[[noreturn]] void throw_jpeg_error(const JpegErrorMgr& err, const std::string& name) {
  if (err.truncated) throw Error(fmt::format("{}: truncated JPEG file", name));
  throw Error(fmt::format("{}: invalid JPEG: {}", name, err.message));
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  JpegErrorMgr err;
  init_jpeg_error_mgr(&err);
  JpegDecompressGuard guard;
  jpeg_decompress_struct* cinfo = &guard.cinfo;
  if (!jpeg_read_header_c(cinfo, &err, &guard.progress, data, size)) throw_jpeg_error(err, name);

  int channels = 0;
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      channels = 1;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      cinfo->out_color_space = JCS_RGB;
      channels = 3;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      throw Error(fmt::format("{}: CMYK JPEG is not supported", name));
    default:
      throw Error(fmt::format("{}: unsupported JPEG color space ({} components)", name, cinfo->num_components));
  }
  check_dimensions(cinfo->image_width, cinfo->image_height, name);

  if (!jpeg_start_c(cinfo, &err)) throw_jpeg_error(err, name);
  if (cinfo->output_components != channels || cinfo->output_width != cinfo->image_width ||
      cinfo->output_height != cinfo->image_height)
    throw Error(fmt::format("{}: unexpected JPEG decoder output", name));

  Image image;
  image.width = static_cast<int>(cinfo->output_width);
  image.height = static_cast<int>(cinfo->output_height);
  image.channels = channels;
  size_t stride = static_cast<size_t>(image.width) * channels;
  image.pixels.resize(stride * image.height);
  if (!jpeg_read_pixels_c(cinfo, &err, image.pixels.data(), stride)) throw_jpeg_error(err, name);
  return image;
}

bool jpeg_encode_c(jpeg_compress_struct* cinfo, JpegErrorMgr* err, const Image* image, int quality,
                   unsigned char** out, unsigned long* out_size) {
  cinfo->err = &err->pub;
  if (setjmp(err->jump)) return false;
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, out, out_size);
  cinfo->image_width = static_cast<JDIMENSION>(image->width);
  cinfo->image_height = static_cast<JDIMENSION>(image->height);
  cinfo->input_components = image->channels;
  cinfo->in_color_space = image->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  // Lossless: optimal Huffman tables only make the file smaller.
  cinfo->optimize_coding = TRUE;
  jpeg_start_compress(cinfo, TRUE);
  size_t stride = static_cast<size_t>(image->width) * image->channels;
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<JSAMPLE*>(image->pixels.data() + cinfo->next_scanline * stride);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

struct JpegCompressGuard {
  jpeg_compress_struct cinfo;
  unsigned char* buffer = nullptr;  // malloc'ed by jpeg_mem_dest
  unsigned long size = 0;
  JpegCompressGuard() { std::memset(&cinfo, 0, sizeof(cinfo)); }
  ~JpegCompressGuard() {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
};

std::string lowercase_extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return ext;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name, ImageReadNotes* notes) {
  if (notes) *notes = ImageReadNotes{};
  if (data && is_png(data, size)) return decode_png(data, size, name, notes);
  if (data && is_jpeg(data, size)) return decode_jpeg(data, size, name);
  throw Error(fmt::format("{}: not a PNG or JPEG image", name));
}

Image read_image(const std::string& path, ImageReadNotes* notes) {
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path == "-" ? "stdin" : path, notes);
}

std::vector<uint8_t> encode_png(const Image& image, const PngOptions& options) {
  check_encodable(image, "PNG");
  const int level = options.level < 0 ? kDefaultPngLevel : options.level;
  if (level > 9) throw Error(fmt::format("PNG compression level must be 0..9 (got {})", level));
  if (options.filters == 0 || options.filters > 0xf8 || (options.filters > 0 && (options.filters & 0x07)))
    throw Error(fmt::format("PNG filter mask {:#x} is not a combination of PNG_FILTER_* bits", options.filters));
  const int filters = options.filters >= 0 ? options.filters
                      : level == 0         ? PNG_FILTER_NONE
                      : level <= 3         ? PNG_FILTER_PAETH
                                           : PNG_ALL_FILTERS;
  std::vector<uint8_t> out;
  PngIo io;
  io.out = &out;
  PngWriteGuard guard;
  guard.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_error_cb, png_warning_cb);
  if (!guard.png) throw Error("cannot initialise the PNG encoder");
  guard.info = png_create_info_struct(guard.png);
  if (!guard.info) throw Error("cannot initialise the PNG encoder");
  png_set_write_fn(guard.png, &io, png_write_cb, png_flush_cb);

  size_t stride = static_cast<size_t>(image.width) * image.channels;
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.pixels.data() + y * stride);
  int color_type = image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
  if (!png_encode_c(guard.png, guard.info, static_cast<png_uint_32>(image.width),
                    static_cast<png_uint_32>(image.height), color_type, rows.data(), level, filters))
    throw Error(fmt::format("cannot encode PNG: {}", io.message));
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  check_encodable(image, "JPEG");
  if (quality < 1 || quality > 100) throw Error(fmt::format("JPEG quality must be 1..100 (got {})", quality));
  JpegErrorMgr err;
  init_jpeg_error_mgr(&err);
  JpegCompressGuard guard;
  if (!jpeg_encode_c(&guard.cinfo, &err, &image, quality, &guard.buffer, &guard.size))
    throw Error(fmt::format("cannot encode JPEG: {}", err.message));
  return std::vector<uint8_t>(guard.buffer, guard.buffer + guard.size);
}

ImageFormat image_format_from_path(const std::string& path) {
  std::string ext = lowercase_extension(path);
  if (ext == ".png") return ImageFormat::Png;
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::Jpeg;
  throw Error(fmt::format("{}: unknown image extension (use --format png|jpeg)", path));
}

void write_image(const Image& image, const std::string& path, ImageFormat format, int jpeg_quality,
                 bool overwrite, const PngOptions& png) {
  std::vector<uint8_t> bytes = format == ImageFormat::Png ? encode_png(image, png) : encode_jpeg(image, jpeg_quality);
  write_file_atomic(path, bytes, overwrite);
}

Image convert_channels(const Image& image, int channels) {
  if (channels != 1 && channels != 3) throw Error(fmt::format("cannot convert an image to {} channels", channels));
  if (image.channels != 1 && image.channels != 3)
    throw Error(fmt::format("cannot convert an image with {} channels", image.channels));
  if (image.channels == channels) return image;
  Image out;
  out.width = image.width;
  out.height = image.height;
  out.channels = channels;
  size_t count = static_cast<size_t>(image.width) * image.height;
  out.pixels.resize(count * channels);
  const uint8_t* src = image.pixels.data();
  uint8_t* dst = out.pixels.data();
  if (channels == 3) {
    for (size_t i = 0; i < count; ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
  } else {
    // BT.601 luma in thousandths, rounded half up.
    for (size_t i = 0; i < count; ++i) {
      unsigned r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2];
      dst[i] = static_cast<uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000);
    }
  }
  return out;
}

}  // namespace hrvq
