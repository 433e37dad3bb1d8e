// MNIST IDX images files (train-images-idx3-ubyte, t10k-images-idx3-ubyte), raw or
// gzip-compressed. Layout: big-endian u32 magic 0x00000803, u32 count, u32 rows, u32 cols,
// then count*rows*cols pixel bytes (0 = background), row-major.
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>

#include "core/dataset_internal.hpp"
#include "hrvq/error.hpp"

namespace hrvq::detail {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    // gzopen reads a file without a gzip header as it is, so one path serves both.
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw_errno(path, errno ? errno : ENOMEM);
    gzbuffer(file_, 1 << 17);
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; fewer only at the end of the data.
  size_t read(uint8_t* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 20));
      int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int errnum = 0;
        const char* msg = gzerror(file_, &errnum);
        if (errnum == Z_ERRNO) throw_errno(path_, errno);
        throw Error(fmt::format("{}: corrupt gzip data ({})", path_, msg ? msg : "unknown error"));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  // Reads and discards n bytes; false if the data ends first.
  bool skip(uint64_t n) {
    std::vector<uint8_t> scratch(1 << 16);
    while (n > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(n, scratch.size()));
      size_t got = read(scratch.data(), want);
      n -= got;
      if (got < want) return n == 0;
    }
    return true;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

class MnistDataset : public Dataset {
 public:
  MnistDataset(std::string name, size_t first, size_t count, int rows, int cols, std::vector<uint8_t> pixels)
      : name_(std::move(name)), first_(first), count_(count), rows_(rows), cols_(cols), pixels_(std::move(pixels)) {}

  size_t size() const override { return count_; }
  Image get(size_t index) const override {
    if (index >= count_) throw Error(fmt::format("{}: index out of range", item_name(index)));
    Image img;
    img.width = cols_;
    img.height = rows_;
    img.channels = 1;
    size_t n = static_cast<size_t>(rows_) * cols_;
    img.pixels.assign(pixels_.begin() + index * n, pixels_.begin() + (index + 1) * n);
    return img;
  }
  std::string item_name(size_t index) const override { return fmt::format("{}[{}]", name_, first_ + index); }
  DatasetKind kind() const override { return DatasetKind::Mnist; }

 private:
  std::string name_;
  size_t first_, count_;
  int rows_, cols_;
  std::vector<uint8_t> pixels_;
};

}  // namespace

std::unique_ptr<Dataset> open_mnist(const std::string& path, const Subset& subset) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno(path, errno);
  if (S_ISDIR(st.st_mode)) {
    file = find_mnist_file(path);
    if (file.empty()) throw Error(fmt::format("{}: no MNIST images file (*-idx3-ubyte or *-idx3-ubyte.gz) in the folder", path));
  }
  GzReader in(file);
  uint8_t header[16];
  if (in.read(header, sizeof header) < sizeof header) throw Error(fmt::format("{}: truncated MNIST header", file));
  uint32_t magic = be32(header);
  if (magic == kIdxLabelsMagic)
    throw Error(fmt::format("{}: an MNIST labels file, not an images file (*-idx3-ubyte)", file));
  if (magic != kIdxImagesMagic)
    throw Error(fmt::format("{}: not an MNIST images file (magic 0x{:08x}, expected 0x{:08x})", file, magic,
                            kIdxImagesMagic));
  uint32_t count = be32(header + 4), rows = be32(header + 8), cols = be32(header + 12);
  if (rows == 0 || cols == 0 || uint64_t{rows} * cols > kMaxImagePixels)
    throw Error(fmt::format("{}: bad MNIST image size {}x{}", file, cols, rows));
  auto [start, end] = resolve_subset(subset, count, file);
  const uint64_t image_bytes = uint64_t{rows} * cols;
  auto truncated = [&] {
    return Error(fmt::format("{}: truncated (the header says {} images of {}x{})", file, count, cols, rows));
  };
  if (!in.skip(start * image_bytes)) throw truncated();
  // Grows with the data actually read, so a header that lies about the count cannot
  // make us allocate more than the file holds.
  const uint64_t want = (end - start) * image_bytes;
  std::vector<uint8_t> pixels;
  pixels.reserve(static_cast<size_t>(std::min<uint64_t>(want, 64u << 20)));
  while (pixels.size() < want) {
    size_t old = pixels.size();
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(want - old, 16u << 20));
    pixels.resize(old + chunk);
    if (in.read(pixels.data() + old, chunk) < chunk) throw truncated();
  }
  if (!in.skip((count - end) * image_bytes)) throw truncated();
  uint8_t extra;
  if (in.read(&extra, 1) != 0)
    throw Error(fmt::format("{}: longer than its header says ({} images of {}x{})", file, count, cols, rows));
  return std::make_unique<MnistDataset>(base_name(file), start, end - start, static_cast<int>(rows),
                                        static_cast<int>(cols), std::move(pixels));
}

}  // namespace hrvq::detail
