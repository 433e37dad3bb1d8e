#include <cmath>

#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/image_quality.hpp"

namespace hrvq::cli {

namespace {

std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : "null"; }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += c;
  }
  return out + "\"";
}

}  // namespace

void register_eval_image(CLI::App& eval) {
  struct Args {
    std::string reference;
    std::vector<std::string> images;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = eval.add_subcommand("image", "PSNR and MS-SSIM of decoded images (PNG/JPEG) against a reference");
  cmd->add_option("REFERENCE", args->reference, "The original image")->required();
  cmd->add_option("IMAGE", args->images, "Images to measure against it")->required();
  cmd->add_flag("--json", args->json, "One JSON object on stdout");
  cmd->callback([args] {
    auto& a = *args;
    auto load = [](const std::string& path, size_t* bytes) {
      auto file = read_file(path);
      if (bytes) *bytes = file.size();
      return decode_image(file.data(), file.size(), path);
    };
    const Image ref = load(a.reference, nullptr);
    std::string table = fmt::format("{:<40} {:>11} {:>10} {:>8} {:>10} {:>8}\n", "image", "size", "bytes", "bpp",
                                    "PSNR (dB)", "MS-SSIM");
    std::string json;
    for (const auto& path : a.images) {
      size_t bytes = 0;
      const Image img = load(path, &bytes);
      const ImageQuality q = measure_quality(ref, img, fmt::format("{} vs {}", a.reference, path));
      const double bpp = 8.0 * double(bytes) / (double(img.width) * img.height);
      table += fmt::format("{:<40} {:>11} {:>10} {:>8.4f} {:>10.3f} {:>8.5f}\n", path,
                           fmt::format("{}x{}", img.width, img.height), bytes, bpp, q.psnr, q.ms_ssim);
      json += fmt::format("{}{{\"image\":{},\"width\":{},\"height\":{},\"bytes\":{},\"bpp\":{:.6f},\"mse\":{},"
                          "\"psnr\":{},\"ms_ssim\":{}}}",
                          json.empty() ? "" : ",", json_string(path), img.width, img.height, bytes, bpp,
                          json_number(q.mse), json_number(q.psnr), json_number(q.ms_ssim));
    }
    if (a.json)
      fmt::print("{{\"reference\":{},\"images\":[{}]}}\n", json_string(a.reference), json);
    else
      fmt::print("{}", table);
  });
}

}  // namespace hrvq::cli
