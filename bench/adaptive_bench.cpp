// adaptive_bench: the depth map (hrvq encode --adaptive) against one depth per image, on
// a folder of images, at a list of -q settings. For each image and each -q, the library
// encodes the image both ways (timed), decodes both files (timed) and measures PSNR and
// MS-SSIM against the RGB it read. At a given -q the two files have (nearly) the same
// size, since --adaptive meets the size of the uniform file, so the rows compare
// quality at equal bits directly. bench/adaptive-bsds.sh runs it on BSDS500 and reads
// the curves against JPEG, WebP and AVIF (bench/adaptive_report.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/image_quality.hpp"
#include "hrvq/ms_ssim.hpp"
#include "hrvq/runtime.hpp"

namespace fs = std::filesystem;
using hrvq::Error;

namespace {

const char* kUsage =
    "usage: adaptive_bench -m MODEL -i DIR [--limit N] [--quality Q,Q,...] [--tile T] [--threads T] [--json FILE]\n"
    "  -m, --model FILE   .hrvqm model (hr or rvq)\n"
    "  -i, --images DIR   PNG/JPEG images (searched recursively, sorted by path)\n"
    "  --limit N          first N images only\n"
    "  --quality LIST     -q settings (default 7,13,20,27,33,40,53,67: 2..11 maps of a 16-map model)\n"
    "  --tile T           --adaptive-tile, latent positions (default 4)\n"
    "  --window W         depths tried around the uniform one (EncodeOptions::depth_window, default 4)\n"
    "  --decodes N        of those, decoded to measure tile errors (EncodeOptions::depth_decodes, default 3;\n"
    "                     2W+1 = all: exact)\n"
    "  --ssim-weight S    EncodeOptions::depth_ssim_weight, 0..1 (default 0: squared error)\n"
    "  --threads T        torch intra-op threads (default 0 = one per core)\n"
    "  --json FILE        also write the results as JSON ('-' = stdout)\n";

struct Args {
  std::string model, images, json;
  size_t limit = 0;
  std::vector<int> qualities = {7, 13, 20, 27, 33, 40, 53, 67};
  int tile = 4, window = 4, decodes = hrvq::EncodeOptions{}.depth_decodes, threads = 0;
  double ssim_weight = 0;
};

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > 100) throw Error(fmt::format("--quality: '{}' is not 0..100", item));
    out.push_back(static_cast<int>(v));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
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
    else if (flag == "--json") a.json = v;
    else if (flag == "--limit") a.limit = static_cast<size_t>(std::stoul(v));
    else if (flag == "--quality") a.qualities = parse_list(v);
    else if (flag == "--tile") a.tile = std::stoi(v);
    else if (flag == "--window") a.window = std::stoi(v);
    else if (flag == "--decodes") a.decodes = std::stoi(v);
    else if (flag == "--threads") a.threads = std::stoi(v);
    else if (flag == "--ssim-weight") a.ssim_weight = std::stod(v);
    else throw Error(fmt::format("unknown option '{}' (see --help)", flag));
  }
  if (a.model.empty() || a.images.empty()) throw Error("give -m MODEL and -i DIR (see --help)");
  return a;
}

std::vector<std::string> list_images(const std::string& dir, size_t limit) {
  std::vector<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  if (limit && paths.size() > limit) paths.resize(limit);
  if (paths.empty()) throw Error(fmt::format("{}: no PNG or JPEG images", dir));
  return paths;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Totals {
  double bytes = 0, psnr = 0, ms_ssim = 0, encode_s = 0, decode_s = 0, depth_maps = 0;
};

int run(const Args& a) {
  hrvq::init_runtime(a.threads);
  hrvq::CodecOptions co;
  co.device = "cpu";
  const hrvq::Codec codec(a.model, co);
  const auto paths = list_images(a.images, a.limit);
  const size_t Q = a.qualities.size();
  std::vector<Totals> uniform(Q), adaptive(Q);
  double pixels = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < paths.size(); ++i) {
    const auto bytes = hrvq::read_file(paths[i]);
    const hrvq::Image image = hrvq::decode_image(bytes.data(), bytes.size(), paths[i]);
    pixels += double(image.width) * image.height;
    for (size_t qi = 0; qi < Q; ++qi) {
      for (int mode = 0; mode < 2; ++mode) {
        Totals& t = mode ? adaptive[qi] : uniform[qi];
        hrvq::EncodeOptions eo;
        eo.rate = hrvq::RateTarget::quality(a.qualities[qi]);
        eo.depth_tile = mode ? a.tile : 0;
        eo.depth_window = a.window;
        eo.depth_decodes = a.decodes;
        eo.depth_ssim_weight = a.ssim_weight;
        auto t0 = std::chrono::steady_clock::now();
        const auto file = codec.encode(image, eo);
        t.encode_s += seconds_since(t0);
        t0 = std::chrono::steady_clock::now();
        const hrvq::Image out = codec.decode(file, paths[i]);
        t.decode_s += seconds_since(t0);
        t.bytes += double(file.size());
        t.psnr += hrvq::psnr(image, out);
        t.ms_ssim += hrvq::ms_ssim(image, out);
        t.depth_maps += file[4] == 3;  // the version byte: 3 when a depth map was written
      }
    }
    const double el = seconds_since(start);
    std::fprintf(stderr, "adaptive_bench: %zu/%zu images, %.0f s, ETA %.0f s\n", i + 1, paths.size(), el,
                 el / double(i + 1) * double(paths.size() - i - 1));
  }
  const double n = double(paths.size());
  std::string table = fmt::format("{} images, {:.2f} MP, model {}, tile {}, window {}, decodes {}, ssim weight {:g}, "
                                  "torch threads {}\n\n",
                                  paths.size(), pixels / 1e6, a.model, a.tile, a.window, a.decodes, a.ssim_weight,
                                  hrvq::runtime_threads());
  table += "| -q | uniform bpp | uniform PSNR | uniform MS-SSIM | adaptive bpp | adaptive PSNR | adaptive MS-SSIM | "
           "PSNR gain (dB) | files with a depth map | encode MP/s uniform / adaptive | decode MP/s uniform / adaptive |\n";
  table += "|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string rows;
  for (size_t qi = 0; qi < Q; ++qi) {
    const Totals &u = uniform[qi], &d = adaptive[qi];
    table += fmt::format("| {} | {:.4f} | {:.3f} | {:.4f} | {:.4f} | {:.3f} | {:.4f} | {:+.3f} | {:.0f}/{:.0f} | "
                         "{:.2f} / {:.2f} | {:.2f} / {:.2f} |\n",
                         a.qualities[qi], 8 * u.bytes / pixels, u.psnr / n, u.ms_ssim / n, 8 * d.bytes / pixels,
                         d.psnr / n, d.ms_ssim / n, (d.psnr - u.psnr) / n, d.depth_maps, n, pixels / 1e6 / u.encode_s,
                         pixels / 1e6 / d.encode_s, pixels / 1e6 / u.decode_s, pixels / 1e6 / d.decode_s);
    for (int mode = 0; mode < 2; ++mode) {
      const Totals& t = mode ? d : u;
      rows += fmt::format("{}{{\"quality\":{},\"mode\":\"{}\",\"bpp\":{:.6f},\"psnr_mean\":{:.5f},\"ms_ssim_mean\":{:.6f},"
                          "\"encode_mp_per_s\":{:.4f},\"decode_mp_per_s\":{:.4f},\"files_with_depth_map\":{:.0f}}}",
                          rows.empty() ? "" : ",", a.qualities[qi], mode ? "adaptive" : "uniform", 8 * t.bytes / pixels,
                          t.psnr / n, t.ms_ssim / n, pixels / 1e6 / t.encode_s, pixels / 1e6 / t.decode_s, t.depth_maps);
    }
  }
  std::fputs(table.c_str(), a.json == "-" ? stderr : stdout);
  if (!a.json.empty()) {
    const std::string json = fmt::format(
        "{{\"model\":\"{}\",\"images_dir\":\"{}\",\"images\":{},\"pixels\":{:.0f},\"tile\":{},\"window\":{},\"decodes\":{},\"ssim_weight\":{:g},"
        "\"torch_threads\":{},\"rows\":[{}]}}\n",
        a.model, a.images, paths.size(), pixels, a.tile, a.window, a.decodes, a.ssim_weight, hrvq::runtime_threads(),
        rows);
    if (a.json == "-") std::fputs(json.c_str(), stdout);
    else hrvq::write_file_atomic(a.json, std::vector<uint8_t>(json.begin(), json.end()));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adaptive_bench: %s\n", e.what());
    return 1;
  }
}
