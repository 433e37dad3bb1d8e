// codec_bench: rate, distortion (PSNR and MS-SSIM), speed and entropy-model quality of
// the hrvq codec on a folder of images, for every prefix of index maps k = 1..n (n = the
// model's maps: tree depth x channel groups). bench/codec-bsds.sh runs it on BSDS500 and
// compares with JPEG, WebP and AVIF.
//
// Rates: a .hrvq file is a header (kBitstreamHeaderSize bytes, as parse_bitstream
// reports it) followed by one segment (kSegmentHeaderSize + payload) per map, so the
// file that --layers k would write is exactly the first k segments of the full one
// (checked on the first image). Each image is analyzed once (network encoder), encoded
// once by the library with the default coder (timed; those files are decoded), and its
// maps coded again here with every coder (checked byte for byte against the library),
// then decoded at every k: two network encodes and n decodes per image. Distortion
// (hrvq::measure_quality: PSNR and hrvq::ms_ssim against the RGB the library reads) is
// measured outside the decode timing.
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
#include "hrvq/image_quality.hpp"
#include "hrvq/map_contexts.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/runtime.hpp"

namespace fs = std::filesystem;
using hrvq::Error;

namespace {

const char* kUsage =
    "usage: codec_bench -m MODEL -i DIR [--train DIR]... [--json FILE] [--limit N] [--train-limit N]\n"
    "                   [--jobs J] [--threads T] [--precision fp32|bf16] [--eager]\n"
    "  -m, --model FILE     .hrvqm model\n"
    "  -i, --images DIR     test images (PNG/JPEG, searched recursively)\n"
    "  --train DIR          images whose codes give the spatial-context counts (repeatable; none: skipped)\n"
    "  --json FILE          also write the results as JSON ('-' = stdout, the table then goes to stderr)\n"
    "  --limit N            first N test images only (sorted by path); --train-limit likewise\n"
    "  --jobs J             images coded concurrently (default 1: one image at a time, torch on all cores)\n"
    "  --threads T          torch intra-op threads (default 0 = one per core)\n"
    "  --precision P        network precision, fp32 (default) or bf16\n"
    "  --eager              run the networks as eager modules (the reference path), not frozen graphs\n";

struct Args {
  std::string model, images, json;
  std::vector<std::string> train;
  size_t limit = 0, train_limit = 0;
  int jobs = 1, threads = 0;
  hrvq::Precision precision = hrvq::Precision::Fp32;
  bool eager = false;
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
    if (flag == "--eager") {
      a.eager = true;
      continue;
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
    else if (flag == "--precision") a.precision = hrvq::parse_precision(v);
    else throw Error(fmt::format("unknown option '{}' (see --help)", flag));
  }
  if (a.model.empty() || a.images.empty()) throw Error("give -m MODEL and -i DIR (see --help)");
  return a;
}

const auto kStart = std::chrono::steady_clock::now();

void progress(const std::string& line) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
  std::fprintf(stderr, "codec_bench: [%.0f s] %s\n", t, line.c_str());
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

// The contexts the codec gives each position of every map (codec.cpp code_segments):
// hr codes map l given the global index its group's previous layer (map l - G) picked,
// other quantizers use one context.
std::vector<std::vector<uint32_t>> coder_contexts(const hrvq::IndexMaps& maps, bool hr, unsigned groups, uint32_t m) {
  std::vector<std::vector<uint32_t>> out;
  hrvq::MapContexts contexts(hr, groups);
  for (unsigned l = 0; l < maps.maps.size(); ++l) {
    const uint32_t* c = contexts.for_map(l, maps.maps[l].size());
    out.emplace_back(c, c + maps.maps[l].size());
    contexts.advance(l, maps.maps[l], m);
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
  double encode_s = -1;   // the library's whole encode (network + coding); < 0: not timed
  double entropy_s = 0;   // coding the analyzed maps alone
};

int run(const Args& a) {
  hrvq::init_runtime(a.threads);
  hrvq::CodecOptions options;
  options.device = "cpu";
  options.precision = a.precision;
  options.frozen_networks = !a.eager;
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

  // Rates per coder. The reported coder (the first) goes through the library's encode,
  // timed, and its files are the ones decoded below. Every coder's segments are then
  // coded here from the analyzed maps as codec.cpp codes them (MapContexts +
  // encode_index_map_2d), so the network runs twice per image rather than once per coder:
  // the first coder's segments must equal the library's on every image, the others' on
  // the first image.
  std::vector<hrvq::Coder> coders;
  if (codec.has_counts()) {
    coders.push_back(hrvq::Coder::RansCtx);
    coders.push_back(hrvq::Coder::Rans);
  }
  coders.push_back(hrvq::Coder::Zstd);
  coders.push_back(hrvq::Coder::Raw);
  std::vector<std::vector<uint8_t>> decode_streams(N);
  hrvq::EncodeOptions eo;
  eo.coder = coders.front();
  t0 = std::chrono::steady_clock::now();
  for_each_index(N, a.jobs, [&](size_t i) {
    hrvq::EncodeOptions o = eo;
    o.name = test.names[i];
    decode_streams[i] = codec.encode(test.images[i], o);
  });
  const double library_encode_s = seconds_since(t0);
  std::vector<hrvq::ParsedBitstream> parsed(N);
  for (size_t i = 0; i < N; ++i) {
    parsed[i] = hrvq::parse_bitstream(decode_streams[i], test.names[i]);
    if (parsed[i].segments.size() != size_t(n) || parsed[i].truncated)
      throw Error(fmt::format("{}: the full file has {} segments, not the model's {} maps", test.names[i],
                              parsed[i].segments.size(), n));
  }
  const bool hr = parsed[0].header.quantizer == hrvq::StreamQuantizer::Hr;
  const unsigned groups = std::max<unsigned>(1, parsed[0].header.groups);
  const size_t header_bytes = parsed[0].header_size;
  if (header_bytes != hrvq::kBitstreamHeaderSize)
    progress(fmt::format("note: the files have a {}-byte header, not the current {}", header_bytes,
                         hrvq::kBitstreamHeaderSize));
  progress(fmt::format("encode {} (library): {:.2f} s", hrvq::coder_name(coders.front()), library_encode_s));

  // Tables for coding: the model's counts, or (no counts: raw and zstd only, which use
  // nothing but m) a flat one.
  std::vector<hrvq::LayerEntropyModel> models = entropy;
  if (models.empty())
    for (int l = 0; l < n; ++l) models.emplace_back(std::vector<uint64_t>(m, 1), 1, m);
  auto code_maps = [&](const hrvq::IndexMaps& im, hrvq::Coder coder) {
    return hrvq::encode_index_maps(im.maps, im.cols, models, hr, groups, m, coder);
  };

  std::vector<CoderResult> results;
  for (hrvq::Coder coder : coders) {
    CoderResult r{coder, std::vector<double>(n, 0), std::vector<double>(n, 0), -1, 0};
    std::vector<std::vector<std::vector<uint8_t>>> segments(N);
    t0 = std::chrono::steady_clock::now();
    for_each_index(N, a.jobs, [&](size_t i) { segments[i] = code_maps(maps[i], coder); });
    r.entropy_s = seconds_since(t0);
    if (coder == coders.front()) {
      r.encode_s = library_encode_s;
      for (size_t i = 0; i < N; ++i)
        if (segments[i] != parsed[i].segments)
          throw Error(fmt::format("{}: the {} segments coded from codec.analyze()'s maps differ from codec.encode()'s "
                                  "(has the codec changed how it codes maps?)",
                                  test.names[i], hrvq::coder_name(coder)));
      // The prefix argument: --layers k writes the header and the first k segments.
      for (int k = 1; k < n; ++k) {
        if (n > 6 && k != 1 && k != 2 && k != n / 2 && k != n - 1) continue;
        hrvq::EncodeOptions o = eo;
        o.layers = k;
        o.name = test.names[0];
        const auto bytes = codec.encode(test.images[0], o);
        const auto p = hrvq::parse_bitstream(bytes, test.names[0]);
        size_t expect = p.header_size;
        for (int l = 0; l < k; ++l) expect += hrvq::kSegmentHeaderSize + parsed[0].segments[l].size();
        if (bytes.size() != expect || p.header_size != header_bytes ||
            !std::equal(p.segments.begin(), p.segments.end(), parsed[0].segments.begin()) || p.segments.size() != size_t(k))
          throw Error(fmt::format("{}: --layers {} wrote {} bytes, not the {} of the full file's prefix", test.names[0], k,
                                  bytes.size(), expect));
      }
    } else {
      hrvq::EncodeOptions o = eo;
      o.coder = coder;
      o.name = test.names[0];
      const auto p = hrvq::parse_bitstream(codec.encode(test.images[0], o), test.names[0]);
      if (p.segments != segments[0] || p.header_size != header_bytes)
        throw Error(fmt::format("{}: the {} segments coded here differ from codec.encode()'s", test.names[0],
                                hrvq::coder_name(coder)));
    }
    for (size_t i = 0; i < N; ++i) {
      double file = double(parsed[i].header_size), payload = 0;
      for (int k = 1; k <= n; ++k) {
        const double seg = double(segments[i][k - 1].size());
        file += hrvq::kSegmentHeaderSize + seg;
        payload += seg;
        r.file_bytes[k - 1] += file;
        r.payload_bytes[k - 1] += payload;
      }
    }
    progress(fmt::format("{}: entropy coding {:.2f} s, {:.4f} bpp", hrvq::coder_name(coder), r.entropy_s,
                         8 * r.file_bytes[n - 1] / test.pixels));
    results.push_back(std::move(r));
  }

  // Decoding each prefix (timed), then its distortion (not timed: MS-SSIM costs about
  // as much as a decode).
  std::vector<double> decode_s(n, 0), psnr_mean(n, 0), psnr_of_mean_mse(n, 0), ms_ssim_mean(n, 0),
      ms_ssim_db_mean(n, 0);
  std::vector<hrvq::Image> decoded(N);
  for (int k = 1; k <= n; ++k) {
    std::vector<hrvq::ImageQuality> quality(N);
    t0 = std::chrono::steady_clock::now();
    for_each_index(N, a.jobs, [&](size_t i) { decoded[i] = codec.decode(decode_streams[i], test.names[i], k); });
    decode_s[k - 1] = seconds_since(t0);
    for_each_index(N, a.jobs, [&](size_t i) {
      quality[i] = hrvq::measure_quality(test.images[i], decoded[i], fmt::format("{} (--layers {})", test.names[i], k));
    });
    double sum_psnr = 0, sum_mse = 0, sum_ms = 0, sum_ms_db = 0;
    for (const auto& q : quality) {
      sum_psnr += psnr_of_mse(q.mse), sum_mse += q.mse, sum_ms += q.ms_ssim;
      sum_ms_db += q.ms_ssim >= 1 ? std::numeric_limits<double>::infinity() : -10 * std::log10(1 - q.ms_ssim);
    }
    psnr_mean[k - 1] = sum_psnr / double(N);
    psnr_of_mean_mse[k - 1] = psnr_of_mse(sum_mse / double(N));
    ms_ssim_mean[k - 1] = sum_ms / double(N);
    ms_ssim_db_mean[k - 1] = sum_ms_db / double(N);
    progress(fmt::format("decode --layers {}: {:.2f} s, PSNR {:.3f} dB, MS-SSIM {:.5f}", k, decode_s[k - 1],
                         psnr_mean[k - 1], ms_ssim_mean[k - 1]));
  }
  decoded.clear();

  // Cross-entropy of the codes under the model's own tables, with the codec's contexts.
  std::vector<std::vector<std::vector<uint32_t>>> contexts(N);
  for (size_t i = 0; i < N; ++i) contexts[i] = coder_contexts(maps[i], hr, groups, m);
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
    for (const auto& tm : train_maps) train_contexts.push_back(coder_contexts(tm, hr, groups, m));
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
  out(fmt::format("model {}: {} quantizer, n={} index maps ({} group{}), m={} codes, {} channel{}; {} images ({:.2f} MP) "
                  "from {}\n",
                  a.model, hr ? "hr" : "non-hr", n, groups, groups == 1 ? "" : "s", m, C, C == 1 ? "" : "s", N, MP,
                  a.images));
  out(fmt::format("torch threads {}, jobs {}\n\n", hrvq::runtime_threads(), a.jobs));
  out(fmt::format("bits per pixel (whole .hrvq file; payload = without the {}-byte header and {}-byte segment headers)\n",
                  header_bytes, hrvq::kSegmentHeaderSize));
  std::string head = "| k | ";
  for (const auto& r : results) head += fmt::format("{} file | {} payload | ", hrvq::coder_name(r.coder), hrvq::coder_name(r.coder));
  head += "n*log2(m) | CE (quantized) | CE (exact) | rans over CE | PSNR mean | PSNR of mean MSE | MS-SSIM mean |\n";
  out(head);
  out("|---|");
  for (size_t c = 0; c < results.size() * 2 + 7; ++c) out("---|");
  out("\n");
  auto cum = [&](const std::vector<double>& per_layer, int k) {
    double s = 0;
    for (int l = 0; l < k; ++l) s += per_layer[l];
    return s;
  };
  const double log2m = std::log2(double(m));
  // "rans over CE" compares the static-table coder (the one the CE describes) with it.
  const CoderResult* rans_result = &results[0];
  for (const auto& r : results)
    if (r.coder == hrvq::Coder::Rans) rans_result = &r;
  for (int k = 1; k <= n; ++k) {
    std::string row = fmt::format("| {} | ", k);
    for (const auto& r : results)
      row += fmt::format("{:.4f} | {:.4f} | ", 8 * r.file_bytes[k - 1] / P, 8 * r.payload_bytes[k - 1] / P);
    row += fmt::format("{:.4f} | ", cum(positions, k) * log2m / P);
    if (!entropy.empty()) {
      const double ce = cum(ce_bits, k), exact = cum(ce_exact_bits, k), rans = 8 * rans_result->payload_bytes[k - 1];
      row += fmt::format("{:.4f} | {:.4f} | {:+.2f}% | ", ce / P, exact / P, 100 * (rans - exact) / exact);
    } else {
      row += "- | - | - | ";
    }
    row += fmt::format("{:.3f} | {:.3f} | {:.5f} |\n", psnr_mean[k - 1], psnr_of_mean_mse[k - 1], ms_ssim_mean[k - 1]);
    out(row);
  }
  out("\nthroughput (whole pipeline, image in memory <-> bytes; model loading excluded)\n");
  out("| step | s | images/s | MP/s |\n|---|---|---|---|\n");
  auto speed = [&](const std::string& what, double s) {
    out(fmt::format("| {} | {:.2f} | {:.2f} | {:.3f} |\n", what, s, double(N) / s, MP / s));
  };
  speed("analyze (network encoder only)", analyze_s);
  for (const auto& r : results)
    if (r.encode_s >= 0) speed(fmt::format("encode, {}, all maps", hrvq::coder_name(r.coder)), r.encode_s);
  for (const auto& r : results)
    speed(fmt::format("entropy coding only, {}, all maps", hrvq::coder_name(r.coder)), r.entropy_s);
  for (int k = 1; k <= n; ++k)
    speed(fmt::format("decode, {}, --layers {}", hrvq::coder_name(results[0].coder), k), decode_s[k - 1]);
  if (!train_maps.empty()) {
    out(fmt::format("\nspatial context: add-one smoothed counts from {} training images ({:.2f} MP), cross-entropy of "
                    "the {} test images' codes in bits per pixel\n",
                    train_maps.size(), train_pixels / 1e6, N));
    out("| map | model tables | parent | parent+left | parent+left+above | change left | change left+above |\n");
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
    j += fmt::format("  \"quantizer\": \"{}\", \"layers\": {}, \"groups\": {}, \"codes\": {}, \"channels\": {}, "
                     "\"torch_threads\": {}, \"jobs\": {}, \"precision\": \"{}\", \"networks\": \"{}\", \"model_load_s\": {},\n",
                     hr ? "hr" : "other", n, groups, m, C, hrvq::runtime_threads(), a.jobs,
                     hrvq::precision_name(a.precision), a.eager ? "eager" : "frozen", jnum(load_s, 4));
    j += fmt::format("  \"header_bytes\": {}, \"segment_header_bytes\": {}, \"ms_ssim\": \"hrvq::ms_ssim (pytorch_msssim "
                     "definition, RGB, data range 255)\",\n",
                     header_bytes, hrvq::kSegmentHeaderSize);
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
        const double ce = cum(ce_bits, k), exact = cum(ce_exact_bits, k), rans = 8 * rans_result->payload_bytes[k - 1];
        j += fmt::format("\"ce_bpp\": {}, \"ce_exact_bpp\": {}, \"rans_overhead_pct\": {}, "
                         "\"rans_overhead_vs_quantized_pct\": {}, ",
                         jnum(ce / P), jnum(exact / P), jnum(100 * (rans - exact) / exact, 4),
                         jnum(100 * (rans - ce) / ce, 4));
      } else {
        j += "\"ce_bpp\": null, \"ce_exact_bpp\": null, \"rans_overhead_pct\": null, "
             "\"rans_overhead_vs_quantized_pct\": null, ";
      }
      j += fmt::format("\"psnr_mean\": {}, \"psnr_of_mean_mse\": {}, \"ms_ssim_mean\": {}, \"ms_ssim_db_mean\": {}, "
                       "\"decode_s\": {}, \"decode_images_per_s\": {}, \"decode_mp_per_s\": {}}}{}\n",
                       jnum(psnr_mean[k - 1], 4), jnum(psnr_of_mean_mse[k - 1], 4), jnum(ms_ssim_mean[k - 1], 6),
                       jnum(ms_ssim_db_mean[k - 1], 4), jnum(decode_s[k - 1], 4),
                       jnum(N / decode_s[k - 1], 4), jnum(MP / decode_s[k - 1], 4), k < n ? "," : "");
    }
    j += "  ],\n  \"encode\": {";
    bool first = true;
    for (const auto& r : results) {
      if (r.encode_s < 0) continue;
      j += fmt::format("{}\"{}\": {{\"s\": {}, \"images_per_s\": {}, \"mp_per_s\": {}}}", first ? "" : ", ",
                       hrvq::coder_name(r.coder), jnum(r.encode_s, 4), jnum(N / r.encode_s, 4), jnum(MP / r.encode_s, 4));
      first = false;
    }
    j += "},\n  \"entropy_coding\": {";
    for (size_t c = 0; c < results.size(); ++c)
      j += fmt::format("{}\"{}\": {{\"s\": {}, \"images_per_s\": {}, \"mp_per_s\": {}}}", c ? ", " : "",
                       hrvq::coder_name(results[c].coder), jnum(results[c].entropy_s, 4),
                       jnum(N / results[c].entropy_s, 4), jnum(MP / results[c].entropy_s, 4));
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
