// Dataset selection (open_dataset), option parsing, shared helpers, and the per-item
// transforms the batch loader applies.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fmt/format.h>
#include <limits>

#include "core/dataset_internal.hpp"
#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace detail {

void throw_errno(const std::string& path, int errnum) {
  throw Error(fmt::format("{}: {}", path, std::strerror(errnum)));
}

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

static bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

std::string base_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_image_name(const std::string& name) {
  std::string l = lower(name);
  return ends_with(l, ".png") || ends_with(l, ".jpg") || ends_with(l, ".jpeg");
}

bool is_idx_images_name(const std::string& name) {
  std::string l = lower(name);
  if (ends_with(l, ".gz")) l.resize(l.size() - 3);
  return ends_with(l, "idx3-ubyte");
}

static bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_regular(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Names of the regular files directly in `dir` that `keep` accepts, sorted bytewise.
// The name is checked first: an FFHQ folder holds 70000 files that need no stat().
std::vector<std::pair<std::string, unsigned char>> read_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw_errno(dir, errno);
  std::vector<std::pair<std::string, unsigned char>> entries;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (!e) {
      int err = errno;
      ::closedir(d);
      if (err != 0) throw_errno(dir, err);
      break;
    }
    std::string name = e->d_name;
    if (name != "." && name != "..") entries.emplace_back(std::move(name), e->d_type);
  }
  return entries;
}

static std::vector<std::string> list_files(const std::string& dir, bool (*keep)(const std::string&)) {
  std::vector<std::string> names;
  for (const auto& [name, type] : read_directory(dir)) {
    if (!keep(name)) continue;
    if (is_regular(join_path(dir, name))) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string find_mnist_file(const std::string& dir) {
  std::vector<std::string> found = list_files(dir, is_idx_images_name);
  if (found.empty()) return "";
  // Sorted, so "x-idx3-ubyte" comes before "x-idx3-ubyte.gz": the raw file wins.
  for (const char* prefix : {"train-images", "t10k-images"})
    for (const std::string& name : found)
      if (starts_with(name, prefix)) return join_path(dir, name);
  std::string stem = found[0];
  for (const std::string& name : found)
    if (name != stem && name != stem + ".gz" && name != stem + ".GZ")
      throw Error(fmt::format("{}: more than one MNIST images file ({}, {}); name the file", dir, stem, name));
  return join_path(dir, stem);
}

std::vector<std::string> find_cifar_files(const std::string& dir) {
  std::string unpacked = join_path(dir, "cifar-10-batches-bin");
  if (is_dir(unpacked)) return find_cifar_files(unpacked);
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) {
    std::string file = join_path(dir, fmt::format("data_batch_{}.bin", i));
    if (is_regular(file)) files.push_back(file);
  }
  if (files.empty() && is_regular(join_path(dir, "test_batch.bin"))) files.push_back(join_path(dir, "test_batch.bin"));
  return files;
}

std::vector<uint8_t> read_bounded(const std::string& path, uint64_t max_bytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw_errno(path, errno);
  struct stat st;
  if (::fstat(fileno(f), &st) != 0) {
    int err = errno;
    std::fclose(f);
    throw_errno(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    std::fclose(f);
    throw Error(fmt::format("{}: not a regular file", path));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    std::fclose(f);
    throw Error(fmt::format("{}: file is too large ({} bytes, at most {})", path, st.st_size, max_bytes));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  bool failed = std::ferror(f) != 0;
  int err = errno;
  std::fclose(f);
  if (failed) throw_errno(path, err);
  // The file may have shrunk since fstat; what was read is what there is.
  bytes.resize(got);
  return bytes;
}

static std::string subset_text(const Subset& s) {
  return fmt::format("{}:{}", s.start ? std::to_string(*s.start) : "", s.end ? std::to_string(*s.end) : "");
}

std::pair<size_t, size_t> resolve_subset(const Subset& subset, size_t total, const std::string& path) {
  if (total == 0) throw Error(fmt::format("{}: no images found", path));
  size_t start = subset.start.value_or(0);
  size_t end = subset.end.value_or(total);
  if (start > end) throw Error(fmt::format("{}: subset {} has START > END", path, subset_text(subset)));
  if (end > total)
    throw Error(fmt::format("{}: subset {} is out of range (the dataset has {} items)", path, subset_text(subset), total));
  if (start == end) throw Error(fmt::format("subset {} of {} is empty", subset_text(subset), path));
  return {start, end};
}

}  // namespace detail

using namespace detail;

DatasetKind parse_dataset_kind(const std::string& text) {
  std::string l = lower(text);
  if (l == "auto") return DatasetKind::Auto;
  if (l == "mnist") return DatasetKind::Mnist;
  if (l == "cifar10" || l == "cifar-10") return DatasetKind::Cifar10;
  if (l == "ffhq") return DatasetKind::Ffhq;
  if (l == "imagenet") return DatasetKind::Imagenet;
  if (l == "folder") return DatasetKind::Folder;
  throw Error(fmt::format("unknown dataset kind '{}' (expected auto, mnist, cifar10, ffhq, imagenet or folder)", text));
}

const char* dataset_kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::Auto: return "auto";
    case DatasetKind::Mnist: return "mnist";
    case DatasetKind::Cifar10: return "cifar10";
    case DatasetKind::Ffhq: return "ffhq";
    case DatasetKind::Imagenet: return "imagenet";
    case DatasetKind::Folder: return "folder";
  }
  return "?";
}

static std::optional<size_t> parse_index(const std::string& part, const std::string& text) {
  if (part.empty()) return std::nullopt;
  size_t value = 0;
  for (char c : part) {
    if (c < '0' || c > '9') throw Error(fmt::format("subset '{}': expected START:END with non-negative integers", text));
    size_t digit = static_cast<size_t>(c - '0');
    if (value > (std::numeric_limits<size_t>::max() - digit) / 10)
      throw Error(fmt::format("subset '{}': number too large", text));
    value = value * 10 + digit;
  }
  return value;
}

Subset parse_subset(const std::string& text) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos)
    throw Error(fmt::format("subset '{}': expected START:END (either side may be empty)", text));
  Subset s;
  s.start = parse_index(text.substr(0, colon), text);
  s.end = parse_index(text.substr(colon + 1), text);
  if (s.start && s.end && *s.start > *s.end) throw Error(fmt::format("subset '{}': START is greater than END", text));
  return s;
}

// What an existing file is, by name and then by its first bytes.
static DatasetKind sniff_file(const std::string& path) {
  std::string name = base_name(path);
  if (is_idx_images_name(name)) return DatasetKind::Mnist;
  if (ends_with(lower(name), ".bin")) return DatasetKind::Cifar10;
  if (is_image_name(name)) return DatasetKind::Folder;
  unsigned char head[4] = {0, 0, 0, 0};
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw_errno(path, errno);
  size_t got = std::fread(head, 1, 4, f);
  std::fclose(f);
  if (got == 4 && head[0] == 0 && head[1] == 0 && head[2] == 8 && head[3] == 3) return DatasetKind::Mnist;
  if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b) return DatasetKind::Mnist;
  if (got >= 4 && ((head[0] == 0x89 && head[1] == 'P') || (head[0] == 0xff && head[1] == 0xd8)))
    return DatasetKind::Folder;
  throw Error(fmt::format(
      "{}: not a dataset (expected an MNIST idx3-ubyte file, a CIFAR-10 .bin file, a PNG/JPEG image or a folder)",
      path));
}

std::unique_ptr<Dataset> open_dataset(const std::string& path, DatasetKind kind, const Subset& subset) {
  if (path.empty()) throw Error("dataset path is empty");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno(path, errno);
  bool dir = S_ISDIR(st.st_mode);
  if (kind == DatasetKind::Auto) {
    if (!dir)
      kind = sniff_file(path);
    else if (!find_mnist_file(path).empty())
      kind = DatasetKind::Mnist;
    else if (!find_cifar_files(path).empty())
      kind = DatasetKind::Cifar10;
    else
      kind = DatasetKind::Folder;
  }
  switch (kind) {
    case DatasetKind::Mnist: return open_mnist(path, subset);
    case DatasetKind::Cifar10: return open_cifar(path, subset);
    case DatasetKind::Imagenet:
      if (dir && is_dir(join_path(path, "train"))) return open_folder(join_path(path, "train"), kind, subset);
      return open_folder(path, kind, subset);
    default: return open_folder(path, kind, subset);
  }
}

// ---- transforms --------------------------------------------------------------------

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t item_seed(uint64_t seed, uint64_t epoch, uint64_t position) {
  // The constant separates this stream from the shuffle's, which also starts from seed.
  return splitmix64(splitmix64(splitmix64(seed ^ 0x7472616e73666f72ull) ^ epoch) ^ position);
}

namespace {

// splitmix64 as a generator; bounded draws by rejection so results do not depend on
// the standard library's distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t r = splitmix64(state_);
    state_ += 0x9e3779b97f4a7c15ull;
    return r;
  }
  uint64_t below(uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
      uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

 private:
  uint64_t state_;
};

// For each output sample along one axis, the input samples it reads and their weights.
struct Taps {
  int width = 0;                // taps per output sample (zero-weight padded)
  std::vector<int> first;       // first input index per output sample
  std::vector<float> weights;   // out * width
};

Taps make_taps(int in, int out) {
  Taps t;
  double scale = static_cast<double>(in) / out;
  t.width = out < in ? static_cast<int>(std::ceil(scale)) + 1 : 2;
  t.first.resize(out);
  t.weights.assign(static_cast<size_t>(out) * t.width, 0.0f);
  for (int j = 0; j < out; ++j) {
    float* w = &t.weights[static_cast<size_t>(j) * t.width];
    if (out < in) {
      // Box filter: each output sample is the mean of the input area it covers.
      double lo = j * scale, hi = std::min<double>((j + 1) * scale, in);
      int i0 = static_cast<int>(std::floor(lo));
      t.first[j] = i0;
      for (int k = 0; k < t.width && i0 + k < in; ++k) {
        double overlap = std::min<double>(hi, i0 + k + 1) - std::max<double>(lo, i0 + k);
        if (overlap > 0) w[k] = static_cast<float>(overlap / scale);
      }
    } else {
      // Bilinear between the two nearest sample centres, edges clamped.
      double c = std::max(0.0, (j + 0.5) * scale - 0.5);
      int i0 = std::min(static_cast<int>(std::floor(c)), in - 1);
      double f = c - i0;
      t.first[j] = i0;
      if (i0 + 1 < in) {
        w[0] = static_cast<float>(1 - f);
        w[1] = static_cast<float>(f);
      } else {
        w[0] = 1.0f;
      }
    }
  }
  return t;
}

Image crop(const Image& src, int x0, int y0, int w, int h) {
  Image out;
  out.width = w;
  out.height = h;
  out.channels = src.channels;
  size_t row = static_cast<size_t>(w) * src.channels;
  out.pixels.resize(row * h);
  for (int y = 0; y < h; ++y)
    std::memcpy(&out.pixels[y * row], &src.pixels[((static_cast<size_t>(y0) + y) * src.width + x0) * src.channels], row);
  return out;
}

void flip_horizontal(Image& img) {
  int c = img.channels;
  for (int y = 0; y < img.height; ++y) {
    uint8_t* row = &img.pixels[static_cast<size_t>(y) * img.width * c];
    for (int a = 0, b = img.width - 1; a < b; ++a, --b)
      for (int k = 0; k < c; ++k) std::swap(row[a * c + k], row[b * c + k]);
  }
}

// Output size of scaling so the short side becomes `size`, aspect kept.
std::pair<int, int> short_side_size(int w, int h, int size) {
  if (w <= h) return {size, std::max(size, static_cast<int>(std::lround(static_cast<double>(h) * size / w)))};
  return {std::max(size, static_cast<int>(std::lround(static_cast<double>(w) * size / h))), size};
}

}  // namespace

Image resample_image(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0) throw Error(fmt::format("cannot resize to {}x{}", width, height));
  if (image.width <= 0 || image.height <= 0) throw Error("cannot resize an empty image");
  if (width == image.width && height == image.height) return image;
  const int c = image.channels, in_w = image.width, in_h = image.height;
  Taps tx = make_taps(in_w, width), ty = make_taps(in_h, height);
  // Horizontal pass into floats, then vertical pass with rounding.
  std::vector<float> mid(static_cast<size_t>(in_h) * width * c);
  for (int y = 0; y < in_h; ++y) {
    const uint8_t* src = &image.pixels[static_cast<size_t>(y) * in_w * c];
    float* dst = &mid[static_cast<size_t>(y) * width * c];
    for (int x = 0; x < width; ++x) {
      const float* w = &tx.weights[static_cast<size_t>(x) * tx.width];
      int i0 = tx.first[x];
      for (int k = 0; k < c; ++k) {
        float acc = 0;
        for (int t = 0; t < tx.width && i0 + t < in_w; ++t) acc += w[t] * src[(i0 + t) * c + k];
        dst[x * c + k] = acc;
      }
    }
  }
  Image out;
  out.width = width;
  out.height = height;
  out.channels = c;
  out.pixels.resize(static_cast<size_t>(height) * width * c);
  const size_t row = static_cast<size_t>(width) * c;
  std::vector<float> acc(row);
  for (int y = 0; y < height; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* w = &ty.weights[static_cast<size_t>(y) * ty.width];
    int i0 = ty.first[y];
    for (int t = 0; t < ty.width && i0 + t < in_h; ++t) {
      if (w[t] == 0.0f) continue;
      const float* src = &mid[static_cast<size_t>(i0 + t) * row];
      for (size_t i = 0; i < row; ++i) acc[i] += w[t] * src[i];
    }
    uint8_t* dst = &out.pixels[y * row];
    for (size_t i = 0; i < row; ++i) dst[i] = static_cast<uint8_t>(std::clamp(std::lround(acc[i]), 0l, 255l));
  }
  return out;
}

Image transform_image(const Image& image, const TransformOptions& options, uint64_t seed) {
  if (options.channels != 1 && options.channels != 3)
    throw Error(fmt::format("transform: channels must be 1 or 3, not {}", options.channels));
  if (options.size < 0) throw Error(fmt::format("transform: size must not be negative ({})", options.size));
  Rng rng(seed);
  // Gray conversion first and colour expansion last keep the resampling on fewer channels.
  Image cur = options.channels < image.channels ? convert_channels(image, options.channels) : image;
  const int s = options.size;
  if (s > 0) {
    switch (options.fit) {
      case FitMode::Resize: cur = resample_image(cur, s, s); break;
      case FitMode::CenterCrop: {
        // Cropping the centred square first, then scaling it, is the same picture as
        // scaling the short side and then cropping, with one resampling fewer.
        int side = std::min(cur.width, cur.height);
        if (cur.width != cur.height) cur = crop(cur, (cur.width - side) / 2, (cur.height - side) / 2, side, side);
        cur = resample_image(cur, s, s);
        break;
      }
      case FitMode::RandomCrop: {
        if (std::min(cur.width, cur.height) < s) {
          auto [w, h] = short_side_size(cur.width, cur.height, s);
          cur = resample_image(cur, w, h);
        }
        int x0 = static_cast<int>(rng.below(static_cast<uint64_t>(cur.width - s) + 1));
        int y0 = static_cast<int>(rng.below(static_cast<uint64_t>(cur.height - s) + 1));
        if (cur.width != s || cur.height != s) cur = crop(cur, x0, y0, s, s);
        break;
      }
    }
  }
  if (options.random_flip && (rng.next() >> 63) != 0) flip_horizontal(cur);
  if (options.channels > cur.channels) cur = convert_channels(cur, options.channels);
  return cur;
}

}  // namespace hrvq
