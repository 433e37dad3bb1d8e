// png_write_bench: size and speed of PNG writing at each zlib level and row-filter set,
// against libpng's defaults (level 6, adaptive filters), on a folder of images (the
// decoder's outputs are what hrvq writes). Each image is encoded REPS times per setting,
// the settings interleaved so that load on the machine hits them alike; the median
// time per image is summed. Prints a table and, with --json, the same as JSON.
// Usage: png_write_bench FOLDER [REPS] [--json]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <png.h>

#include "hrvq/error.hpp"
#include "hrvq/image.hpp"

using namespace hrvq;

int main(int argc, char** argv) try {
  if (argc < 2) {
    fmt::print(stderr, "usage: png_write_bench FOLDER [REPS] [--json]\n");
    return 2;
  }
  const std::string folder = argv[1];
  const int reps = argc > 2 && std::string(argv[2]) != "--json" ? std::max(1, std::atoi(argv[2])) : 3;
  const bool json = std::string(argv[argc - 1]) == "--json";
  std::vector<std::filesystem::path> paths;
  for (auto& e : std::filesystem::directory_iterator(folder))
    if (e.path().extension() == ".png" || e.path().extension() == ".jpg") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  std::vector<Image> images;
  double pixels = 0;
  for (auto& p : paths) {
    images.push_back(read_image(p.string()));
    pixels += double(images.back().width) * images.back().height;
  }
  if (images.empty()) throw Error(fmt::format("{}: no .png or .jpg images", folder));

  struct Setting {
    std::string name;
    PngOptions options;
    double seconds = 0;
    size_t bytes = 0;
  };
  std::vector<Setting> settings;
  settings.push_back({"libpng default (6, adaptive)", PngOptions{6, PNG_ALL_FILTERS}});
  for (int level : {1, 2, 3, 4})
    for (auto [fname, mask] : std::vector<std::pair<std::string, int>>{
             {"adaptive", PNG_ALL_FILTERS}, {"none", PNG_FILTER_NONE}, {"sub", PNG_FILTER_SUB}, {"up", PNG_FILTER_UP},
             {"paeth", PNG_FILTER_PAETH}})
      settings.push_back({fmt::format("level {}, {}", level, fname), PngOptions{level, mask}});

  using Clock = std::chrono::steady_clock;
  for (const Image& im : images) {
    std::vector<std::vector<double>> times(settings.size());
    for (int r = 0; r < reps; ++r)
      for (size_t s = 0; s < settings.size(); ++s) {
        auto t0 = Clock::now();
        auto bytes = encode_png(im, settings[s].options);
        times[s].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        if (r == 0) settings[s].bytes += bytes.size();
      }
    for (size_t s = 0; s < settings.size(); ++s) {
      std::nth_element(times[s].begin(), times[s].begin() + reps / 2, times[s].end());
      settings[s].seconds += times[s][reps / 2];
    }
  }
  const Setting& base = settings[0];
  if (json) {
    fmt::print("{{\"images\":{},\"megapixels\":{:.3f},\"reps\":{},\"settings\":[", images.size(), pixels / 1e6, reps);
    for (size_t s = 0; s < settings.size(); ++s)
      fmt::print("{}{{\"name\":\"{}\",\"level\":{},\"filters\":{},\"bytes\":{},\"seconds\":{:.4f},\"mp_per_s\":{:.2f}}}",
                 s ? "," : "", settings[s].name, settings[s].options.level, settings[s].options.filters,
                 settings[s].bytes, settings[s].seconds, pixels / 1e6 / settings[s].seconds);
    fmt::print("]}}\n");
    return 0;
  }
  fmt::print("{} images, {:.1f} MP, median of {} encodes each\n\n", images.size(), pixels / 1e6, reps);
  fmt::print("| setting | MB | size vs default | MP/s | speed vs default |\n|---|---|---|---|---|\n");
  for (const Setting& s : settings)
    fmt::print("| {} | {:.2f} | {:+.1f}% | {:.1f} | {:.2f}x |\n", s.name, s.bytes / 1e6,
               100.0 * (double(s.bytes) / base.bytes - 1), pixels / 1e6 / s.seconds, base.seconds / s.seconds);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "png_write_bench: {}\n", e.what());
  return 1;
}
