// codec_bench: rate, distortion, speed and entropy-model quality of the hrvq codec on a
// folder of images, for every prefix of layers k = 1..n. bench/codec-bsds.sh runs it on
// BSDS500 and compares with JPEG.
//
// Rates come from the library's own Codec (one encode per coder): a .hrvq file is a
// header followed by one segment per layer, so the file that --layers k would write is
// exactly the first k segments of the full one (checked on the first image). That keeps
// the run to three encodes and n decodes per image instead of 3n encodes.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/runtime.hpp"

namespace fs = std::filesystem;
using hrvq::Error;

namespace {

const char* kUsage =
    "usage: codec_bench -m MODEL -i DIR [--train DIR]... [--json FILE] [--limit N] [--train-limit N]\n"
    "                   [--jobs J] [--threads T]\n"
    "  -m, --model FILE     .hrvqm model\n"
    "  -i, --images DIR     test images (PNG/JPEG, searched recursively)\n"
    "  --train DIR          images whose codes give the spatial-context counts (repeatable; none: skipped)\n"
    "  --json FILE          also write the results as JSON ('-' = stdout, the table then goes to stderr)\n"
    "  --limit N            first N test images only (sorted by path); --train-limit likewise\n"
    "  --jobs J             images coded concurrently (default 1: one image at a time, torch on all cores)\n"
    "  --threads T          torch intra-op threads (default 0 = one per core)\n";

struct Args {
  std::string model, images, json;
  std::vector<std::string> train;
  size_t limit = 0, train_limit = 0;
  int jobs = 1, threads = 0;
};

long parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || v < 0) throw Error(fmt::format("{} wants a non-negative integer, got '{}'", flag, text));
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw Error(fmt::format("{} needs a value (see --help)", flag));
    const std::string v = argv[++i];
    if (flag == "-m" || flag == "--model") a.model = v;
    else if (flag == "-i" || flag == "--images") a.images = v;
    else if (flag == "--train") a.train.push_back(v);
    else if (flag == "--json") a.json = v;
    else if (flag == "--limit") a.limit = static_cast<size_t>(parse_count(flag, v));
    else if (flag == "--train-limit") a.train_limit = static_cast<size_t>(parse_count(flag, v));
    else if (flag == "--jobs") a.jobs = static_cast<int>(std::max(1L, parse_count(flag, v)));
    else if (flag == "--threads") a.threads = static_cast<int>(parse_count(flag, v));
    else throw Error(fmt::format("unknown option '{}' (see --help)", flag));
  }
  if (a.model.empty() || a.images.empty()) throw Error("give -m MODEL and -i DIR (see --help)");
  return a;
}

void progress(const std::string& line) {
  std::fprintf(stderr, "codec_bench: %s\n", line.c_str());
  std::fflush(stderr);
}

std::vector<std::string> list_images(const std::string& dir, size_t limit) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("{}: not a folder", dir));
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") paths.push_back(it->path().string());
  }
  if (ec) throw Error(fmt::format("{}: {}", dir, ec.message()));
  std::sort(paths.begin(), paths.end());
  if (limit && paths.size() > limit) paths.resize(limit);
  if (paths.empty()) throw Error(fmt::format("{}: no PNG or JPEG images", dir));
  return paths;
}

// Runs fn(i) for i < count on `jobs` threads; the first exception is rethrown.
void for_each_index(size_t count, int jobs, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (size_t i; (i = next++) < count;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = count;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(jobs, static_cast<int>(count)); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double mse(const hrvq::Image& a, const hrvq::Image& b) {
  if (a.pixels.size() != b.pixels.size()) throw Error("decoded image differs in size from the input");
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double e = double(a.pixels[i]) - double(b.pixels[i]);
    sum += e * e;
  }
  return sum / double(a.pixels.size());
}

double psnr_of_mse(double m) { return m <= 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(255.0 * 255.0 / m); }

std::string jnum(double v, int digits = 6) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : std::string("null");
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += c;
  }
  return out + "\"";
}

// The contexts the codec gives each position of every layer (codec.cpp pack/unpack):
// hr codes layer l given its parent's global index, other quantizers use one context.
std::vector<std::vector<uint32_t>> coder_contexts(const hrvq::IndexMaps& maps, bool hr, uint32_t m) {
  std::vector<std::vector<uint32_t>> out;
  std::vector<uint32_t> contexts;
  for (size_t l = 0; l < maps.maps.size(); ++l) {
    if (!hr || l == 0) contexts.assign(maps.maps[l].size(), 0);
    out.push_back(contexts);
    if (hr) hrvq::advance_hr_contexts(contexts, maps.maps[l], m);
  }
  return out;
}

// Conditional code statistics for one layer and one choice of context, add-one smoothed
// as LayerEntropyModel::exact_probability: p = (count + 1) / (total + m). Sparse, since
// (parent, left, above) has far more possible contexts than positions.
class SparseModel {
 public:
  explicit SparseModel(uint32_t m) : m_(m) {}
  void add(uint64_t context, uint16_t symbol) {
    auto [it, fresh] = ids_.try_emplace(context, static_cast<uint32_t>(totals_.size()));
    if (fresh) totals_.push_back(0);
    ++totals_[it->second];
    ++counts_[uint64_t(it->second) * m_ + symbol];
  }
  double bits(uint64_t context, uint16_t symbol) const {
    double count = 0, total = 0;
    if (auto it = ids_.find(context); it != ids_.end()) {
      total = totals_[it->second];
      if (auto c = counts_.find(uint64_t(it->second) * m_ + symbol); c != counts_.end()) count = c->second;
    }
    return -std::log2((count + 1) / (total + m_));
  }
  size_t contexts() const { return totals_.size(); }

 private:
  uint32_t m_;
  std::unordered_map<uint64_t, uint32_t> ids_;
  std::vector<uint32_t> totals_;
  std::unordered_map<uint64_t, uint32_t> counts_;
};

// Context keys: the coder's context, then the left and above neighbours' local codes in
// the same layer (m where the neighbour is outside the grid). The coder's context is
// < 2^32 and (m+1)^2 <= 4097^2 < 2^24, so the key fits 64 bits.
enum Spatial { kParent = 0, kParentLeft = 1, kParentLeftAbove = 2, kSpatialKinds = 3 };
const char* kSpatialNames[kSpatialKinds] = {"parent", "parent_left", "parent_left_above"};

uint64_t spatial_key(int kind, uint32_t context, const std::vector<uint16_t>& map, uint32_t cols, size_t pos, uint32_t m) {
  const uint64_t base = m + 1;
  const size_t x = pos % cols;
  const uint64_t left = kind >= kParentLeft && x > 0 ? map[pos - 1] : m;
  const uint64_t above = kind >= kParentLeftAbove && pos >= cols ? map[pos - cols] : m;
  return (uint64_t(context) * base + left) * base + above;
}

struct LoadedImages {
  std::vector<std::string> names;
  std::vector<hrvq::Image> images;
  double pixels = 0;
};

LoadedImages load_images(const std::vector<std::string>& paths, int channels, int jobs) {
  LoadedImages out;
  out.names = paths;
  out.images.resize(paths.size());
  for_each_index(paths.size(), std::max(jobs, 2), [&](size_t i) {
    hrvq::Image img = hrvq::read_image(paths[i]);
    out.images[i] = img.channels == channels ? std::move(img) : hrvq::convert_channels(img, channels);
  });
  for (const auto& img : out.images) out.pixels += double(img.width) * img.height;
  return out;
}

struct CoderResult {
  hrvq::Coder coder;
  std::vector<double> file_bytes, payload_bytes;  // summed over images, per k (index k-1)
  double encode_s = 0;
};

int run(const Args& a) {
  hrvq::init_runtime(a.threads);
  hrvq::CodecOptions options;
  options.device = "cpu";
  const auto load_start = std::chrono::steady_clock::now();
  const hrvq::Codec codec(a.model, options);
  const double load_s = seconds_since(load_start);
  const int n = codec.layers(), C = codec.channels();
  const uint32_t m = static_cast<uint32_t>(codec.codes());

  // The model's per-layer code counts, i.e. the tables the rans coder uses.
  std::vector<hrvq::LayerEntropyModel> entropy;
  if (codec.has_counts()) {
    const hrvq::ModelFile file = hrvq::load_model_file(a.model);
    for (int l = 0; l < n; ++l) {
      const hrvq::TensorEntry* t = file.find(fmt::format("counts.layer{}", l));
      if (!t) throw Error(fmt::format("{}: has counts but no counts.layer{}", a.model, l));
      auto counts = hrvq::tensor_as_u64(*t, a.model);
      const uint32_t contexts = static_cast<uint32_t>(counts.size() / m);
      entropy.emplace_back(std::move(counts), contexts, m);
    }
  }

  const auto test_paths = list_images(a.images, a.limit);
  LoadedImages test = load_images(test_paths, C, a.jobs);
  const size_t N = test.images.size();
  progress(fmt::format("{} images, {:.2f} MP; model {} (n={}, m={}, {} channel{}) loaded in {:.2f} s", N,
                       test.pixels / 1e6, a.model, n, m, C, C == 1 ? "" : "s", load_s));

  // Network half alone: the index maps every statistic below is computed from.
  std::vector<hrvq::IndexMaps> maps(N);
  auto t0 = std::chrono::steady_clock::now();
  for_each_index(N, a.jobs, [&](size_t i) { maps[i] = codec.analyze(test.images[i], test.names[i]); });
  const double analyze_s = seconds_since(t0);
  progress(fmt::format("analyze: {:.2f} s", analyze_s));

  // Rates per coder, from one full-depth encode per image and coder.
  std::vector<hrvq::Coder> coders;
  if (codec.has_counts()) {
    coders.push_back(hrvq::Coder::RansCtx);
    coders.push_back(hrvq::Coder::Rans);
  }
  coders.push_back(hrvq::Coder::Zstd);
  coders.push_back(hrvq::Coder::Raw);
  std::vector<CoderResult> results;
  std::vector<std::vector<uint8_t>> decode_streams(N);
  bool hr = false;
  for (hrvq::Coder coder : coders) {
    CoderResult r{coder, std::vector<double>(n, 0), std::vector<double>(n, 0), 0};
    std::vector<std::vector<uint8_t>> streams(N);
    hrvq::EncodeOptions eo;
    eo.coder = coder;
    t0 = std::chrono::steady_clock::now();
    for_each_index(N, a.jobs, [&](size_t i) {
      hrvq::EncodeOptions o = eo;
      o.name = test.names[i];
      streams[i] = codec.encode(test.images[i], o);
    });
    r.encode_s = seconds_since(t0);
    for (size_t i = 0; i < N; ++i) {
      const auto parsed = hrvq::parse_bitstream(streams[i], test.names[i]);
      hr = parsed.header.quantizer == hrvq::StreamQuantizer::Hr;
      double file = double(parsed.header_size), payload = 0;
      for (int k = 1; k <= n; ++k) {
        const double seg = double(parsed.segments[k - 1].size());
        file += hrvq::kSegmentHeaderSize + seg;
        payload += seg;
        r.file_bytes[k - 1] += file;
        r.payload_bytes[k - 1] += payload;
      }
    }
    // The prefix argument above, checked against the library on the first image.
    for (int k = 1; k < n; ++k) {
      hrvq::EncodeOptions o = eo;
      o.layers = k;
      const auto bytes = codec.encode(test.images[0], o);
      const auto parsed = hrvq::parse_bitstream(streams[0], test.names[0]);
      size_t expect = parsed.header_size;
      for (int l = 0; l < k; ++l) expect += hrvq::kSegmentHeaderSize + parsed.segments[l].size();
      if (bytes.size() != expect)
        throw Error(fmt::format("{}: --layers {} wrote {} bytes, not the {} of the full file's prefix", test.names[0], k,
                                bytes.size(), expect));
    }
    progress(fmt::format("encode {}: {:.2f} s, {:.4f} bpp", hrvq::coder_name(coder), r.encode_s,
                         8 * r.file_bytes[n - 1] / test.pixels));
    if (coder == coders.front()) decode_streams = std::move(streams);
    results.push_back(std::move(r));
  }

  // Decoding each prefix, and its distortion.
  std::vector<double> decode_s(n, 0), psnr_mean(n, 0), psnr_of_mean_mse(n, 0);
  for (int k = 1; k <= n; ++k) {
    std::vector<double> errors(N);
    t0 = std::chrono::steady_clock::now();
    for_each_index(N, a.jobs, [&](size_t i) {
      const hrvq::Image out = codec.decode(decode_streams[i], test.names[i], k);
      errors[i] = mse(test.images[i], out);
    });
    decode_s[k - 1] = seconds_since(t0);
    double sum_psnr = 0, sum_mse = 0;
    for (double e : errors) sum_psnr += psnr_of_mse(e), sum_mse += e;
    psnr_mean[k - 1] = sum_psnr / double(N);
    psnr_of_mean_mse[k - 1] = psnr_of_mse(sum_mse / double(N));
    progress(fmt::format("decode --layers {}: {:.2f} s, PSNR {:.3f} dB", k, decode_s[k - 1], psnr_mean[k - 1]));
  }

  // Cross-entropy of the codes under the model's own tables, with the codec's contexts.
  std::vector<std::vector<std::vector<uint32_t>>> contexts(N);
  for (size_t i = 0; i < N; ++i) contexts[i] = coder_contexts(maps[i], hr, m);
  std::vector<double> ce_bits(n, 0), ce_exact_bits(n, 0), positions(n, 0);
  for (size_t i = 0; i < N; ++i)
    for (int l = 0; l < n; ++l) {
      const auto& s = maps[i].maps[l];
      positions[l] += double(s.size());
      if (entropy.empty()) continue;
      ce_bits[l] += entropy[l].cross_entropy_bits(s.data(), contexts[i][l].data(), s.size());
      ce_exact_bits[l] += entropy[l].exact_cross_entropy_bits(s.data(), contexts[i][l].data(), s.size());
    }

  // Spatial context: counts from the training images' codes, cross-entropy on the test codes.
  std::vector<hrvq::IndexMaps> train_maps;
  std::vector<std::vector<std::vector<uint32_t>>> train_contexts;
  double train_pixels = 0;
  double train_analyze_s = 0;
  if (!a.train.empty()) {
    std::vector<std::string> paths;
    for (const auto& dir : a.train) {
      auto p = list_images(dir, 0);
      paths.insert(paths.end(), p.begin(), p.end());
    }
    if (a.train_limit && paths.size() > a.train_limit) paths.resize(a.train_limit);
    progress(fmt::format("spatial context: coding {} training images", paths.size()));
    train_maps.resize(paths.size());
    t0 = std::chrono::steady_clock::now();
    // Loaded a chunk at a time: the whole training set as pixels would be the largest
    // allocation of the run for no benefit.
    for (size_t start = 0; start < paths.size(); start += 64) {
      std::vector<std::string> chunk(paths.begin() + start, paths.begin() + std::min(paths.size(), start + 64));
      LoadedImages imgs = load_images(chunk, C, a.jobs);
      train_pixels += imgs.pixels;
      for_each_index(chunk.size(), a.jobs,
                     [&](size_t i) { train_maps[start + i] = codec.analyze(imgs.images[i], imgs.names[i]); });
    }
    train_analyze_s = seconds_since(t0);
    for (const auto& tm : train_maps) train_contexts.push_back(coder_contexts(tm, hr, m));
  }
  // [layer][kind] bits on the test codes, and on the training codes themselves.
  std::vector<std::vector<double>> spatial_bits(n, std::vector<double>(kSpatialKinds, 0));
  std::vector<std::vector<double>> spatial_train_bits = spatial_bits;
  std::vector<std::vector<size_t>> spatial_contexts(n, std::vector<size_t>(kSpatialKinds, 0));
  if (!train_maps.empty()) {
    for (int l = 0; l < n; ++l)
      for (int kind = 0; kind < kSpatialKinds; ++kind) {
        SparseModel model(m);
        for (size_t i = 0; i < train_maps.size(); ++i) {
          const auto& s = train_maps[i].maps[l];
          for (size_t p = 0; p < s.size(); ++p)
            model.add(spatial_key(kind, train_contexts[i][l][p], s, train_maps[i].cols[l], p, m), s[p]);
        }
        for (size_t i = 0; i < N; ++i) {
          const auto& s = maps[i].maps[l];
          for (size_t p = 0; p < s.size(); ++p)
            spatial_bits[l][kind] += model.bits(spatial_key(kind, contexts[i][l][p], s, maps[i].cols[l], p, m), s[p]);
        }
        for (size_t i = 0; i < train_maps.size(); ++i) {
          const auto& s = train_maps[i].maps[l];
          for (size_t p = 0; p < s.size(); ++p)
            spatial_train_bits[l][kind] +=
                model.bits(spatial_key(kind, train_contexts[i][l][p], s, train_maps[i].cols[l], p, m), s[p]);
        }
        spatial_contexts[l][kind] = model.contexts();
      }
  }

  // ---- report
  const double P = test.pixels, MP = test.pixels / 1e6;
  std::string table;
  auto out = [&](const std::string& s) { table += s; };
  out(fmt::format("model {}: {} quantizer, n={} layers, m={} codes, {} channel{}; {} images ({:.2f} MP) from {}\n",
                  a.model, hr ? "hr" : "non-hr", n, m, C, C == 1 ? "" : "s", N, MP, a.images));
  out(fmt::format("torch threads {}, jobs {}\n\n", hrvq::runtime_threads(), a.jobs));
  out("bits per pixel (whole .hrvq file; payload = without the header and segment headers)\n");
  std::string head = "| k | ";
  for (const auto& r : results) head += fmt::format("{} file | {} payload | ", hrvq::coder_name(r.coder), hrvq::coder_name(r.coder));
  head += "n*log2(m) | CE (quantized) | CE (exact) | rans over CE | PSNR mean | PSNR of mean MSE |\n";
  out(head);
  out("|---|");
  for (size_t c = 0; c < results.size() * 2 + 6; ++c) out("---|");
  out("\n");
  auto cum = [&](const std::vector<double>& per_layer, int k) {
    double s = 0;
    for (int l = 0; l < k; ++l) s += per_layer[l];
    return s;
  };
  const double log2m = std::log2(double(m));
  for (int k = 1; k <= n; ++k) {
    std::string row = fmt::format("| {} | ", k);
    for (const auto& r : results)
      row += fmt::format("{:.4f} | {:.4f} | ", 8 * r.file_bytes[k - 1] / P, 8 * r.payload_bytes[k - 1] / P);
    row += fmt::format("{:.4f} | ", cum(positions, k) * log2m / P);
    if (!entropy.empty()) {
      const double ce = cum(ce_bits, k), exact = cum(ce_exact_bits, k), rans = 8 * results[0].payload_bytes[k - 1];
      row += fmt::format("{:.4f} | {:.4f} | {:+.2f}% | ", ce / P, exact / P, 100 * (rans - exact) / exact);
    } else {
      row += "- | - | - | ";
    }
    row += fmt::format("{:.3f} | {:.3f} |\n", psnr_mean[k - 1], psnr_of_mean_mse[k - 1]);
    out(row);
  }
  out("\nthroughput (whole pipeline, image in memory <-> bytes; model loading excluded)\n");
  out("| step | s | images/s | MP/s |\n|---|---|---|---|\n");
  auto speed = [&](const std::string& what, double s) {
    out(fmt::format("| {} | {:.2f} | {:.2f} | {:.3f} |\n", what, s, double(N) / s, MP / s));
  };
  speed("analyze (network encoder only)", analyze_s);
  for (const auto& r : results) speed(fmt::format("encode, {}, all layers", hrvq::coder_name(r.coder)), r.encode_s);
  for (int k = 1; k <= n; ++k)
    speed(fmt::format("decode, {}, --layers {}", hrvq::coder_name(results[0].coder), k), decode_s[k - 1]);
  if (!train_maps.empty()) {
    out(fmt::format("\nspatial context: add-one smoothed counts from {} training images ({:.2f} MP), cross-entropy of "
                    "the {} test images' codes in bits per pixel\n",
                    train_maps.size(), train_pixels / 1e6, N));
    out("| layer | model tables | parent | parent+left | parent+left+above | change left | change left+above |\n");
    out("|---|---|---|---|---|---|---|\n");
    std::vector<double> total(kSpatialKinds, 0);
    double total_model = 0;
    for (int l = 0; l < n; ++l) {
      const auto& b = spatial_bits[l];
      for (int kind = 0; kind < kSpatialKinds; ++kind) total[kind] += b[kind];
      total_model += ce_exact_bits[l];
      out(fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.4f} | {:+.1f}% | {:+.1f}% |\n", l + 1,
                      entropy.empty() ? std::string("-") : fmt::format("{:.4f}", ce_exact_bits[l] / P), b[0] / P,
                      b[1] / P, b[2] / P, 100 * (b[1] - b[0]) / b[0], 100 * (b[2] - b[0]) / b[0]));
    }
    out(fmt::format("| all | {} | {:.4f} | {:.4f} | {:.4f} | {:+.1f}% | {:+.1f}% |\n",
                    entropy.empty() ? std::string("-") : fmt::format("{:.4f}", total_model / P), total[0] / P,
                    total[1] / P, total[2] / P, 100 * (total[1] - total[0]) / total[0],
                    100 * (total[2] - total[0]) / total[0]));
  }

  if (!a.json.empty()) {
    std::string j = "{\n";
    j += fmt::format("  \"model\": {}, \"images_dir\": {}, \"images\": {}, \"pixels\": {:.0f},\n", json_string(a.model),
                     json_string(a.images), N, P);
    j += fmt::format("  \"quantizer\": \"{}\", \"layers\": {}, \"codes\": {}, \"channels\": {}, \"torch_threads\": {}, "
                     "\"jobs\": {}, \"model_load_s\": {},\n",
                     hr ? "hr" : "other", n, m, C, hrvq::runtime_threads(), a.jobs, jnum(load_s, 4));
    j += "  \"per_layers\": [\n";
    for (int k = 1; k <= n; ++k) {
      j += fmt::format("    {{\"k\": {}, \"bpp\": {{", k);
      for (size_t c = 0; c < results.size(); ++c)
        j += fmt::format("{}\"{}\": {}", c ? ", " : "", hrvq::coder_name(results[c].coder),
                         jnum(8 * results[c].file_bytes[k - 1] / P));
      j += "}, \"payload_bpp\": {";
      for (size_t c = 0; c < results.size(); ++c)
        j += fmt::format("{}\"{}\": {}", c ? ", " : "", hrvq::coder_name(results[c].coder),
                         jnum(8 * results[c].payload_bytes[k - 1] / P));
      j += fmt::format("}}, \"ideal_raw_bpp\": {}, ", jnum(cum(positions, k) * log2m / P));
      if (!entropy.empty()) {
        const double ce = cum(ce_bits, k), exact = cum(ce_exact_bits, k), rans = 8 * results[0].payload_bytes[k - 1];
        j += fmt::format("\"ce_bpp\": {}, \"ce_exact_bpp\": {}, \"rans_overhead_pct\": {}, "
                         "\"rans_overhead_vs_quantized_pct\": {}, ",
                         jnum(ce / P), jnum(exact / P), jnum(100 * (rans - exact) / exact, 4),
                         jnum(100 * (rans - ce) / ce, 4));
      } else {
        j += "\"ce_bpp\": null, \"ce_exact_bpp\": null, \"rans_overhead_pct\": null, "
             "\"rans_overhead_vs_quantized_pct\": null, ";
      }
      j += fmt::format("\"psnr_mean\": {}, \"psnr_of_mean_mse\": {}, \"decode_s\": {}, \"decode_images_per_s\": {}, "
                       "\"decode_mp_per_s\": {}}}{}\n",
                       jnum(psnr_mean[k - 1], 4), jnum(psnr_of_mean_mse[k - 1], 4), jnum(decode_s[k - 1], 4),
                       jnum(N / decode_s[k - 1], 4), jnum(MP / decode_s[k - 1], 4), k < n ? "," : "");
    }
    j += "  ],\n  \"encode\": {";
    for (size_t c = 0; c < results.size(); ++c)
      j += fmt::format("{}\"{}\": {{\"s\": {}, \"images_per_s\": {}, \"mp_per_s\": {}}}", c ? ", " : "",
                       hrvq::coder_name(results[c].coder), jnum(results[c].encode_s, 4),
                       jnum(N / results[c].encode_s, 4), jnum(MP / results[c].encode_s, 4));
    j += fmt::format("}},\n  \"analyze\": {{\"s\": {}, \"images_per_s\": {}, \"mp_per_s\": {}}},\n", jnum(analyze_s, 4),
                     jnum(N / analyze_s, 4), jnum(MP / analyze_s, 4));
    if (!train_maps.empty()) {
      j += fmt::format("  \"spatial\": {{\"train_images\": {}, \"train_pixels\": {:.0f}, \"train_analyze_s\": {}, "
                       "\"smoothing\": \"add-one\", \"layers\": [\n",
                       train_maps.size(), train_pixels, jnum(train_analyze_s, 3));
      for (int l = 0; l < n; ++l) {
        j += fmt::format("    {{\"layer\": {}, \"model_tables_bpp\": {}", l + 1,
                         entropy.empty() ? std::string("null") : jnum(ce_exact_bits[l] / P));
        for (int kind = 0; kind < kSpatialKinds; ++kind)
          j += fmt::format(", \"{}\": {{\"test_bpp\": {}, \"train_bpp\": {}, \"contexts\": {}}}", kSpatialNames[kind],
                           jnum(spatial_bits[l][kind] / P), jnum(spatial_train_bits[l][kind] / train_pixels),
                           spatial_contexts[l][kind]);
        j += l + 1 < n ? "},\n" : "}\n";
      }
      j += "  ]}\n";
    } else {
      j += "  \"spatial\": null\n";
    }
    j += "}\n";
    if (a.json == "-") {
      std::fputs(j.c_str(), stdout);
    } else {
      hrvq::write_file_atomic(a.json, std::vector<uint8_t>(j.begin(), j.end()), true);
    }
  }
  std::fputs(table.c_str(), a.json == "-" ? stderr : stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const Error& e) {
    std::fprintf(stderr, "codec_bench: %s\n", e.what());
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    std::fprintf(stderr, "codec_bench: internal error: %s\n", what.substr(0, what.find('\n')).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "codec_bench: %s\n", e.what());
  }
  return 1;
}
