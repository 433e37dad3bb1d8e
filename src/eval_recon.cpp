#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "code_stats.hpp"
#include "device.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"
#include "hrvq/eval.hpp"
#include "hrvq/fid.hpp"
#include "hrvq/map_contexts.hpp"
#include "model_io.hpp"
#include "tensor_image.hpp"

namespace hrvq {

ReconReport evaluate_reconstruction(const ReconOptions& options) {
  torch::NoGradGuard no_grad;
  torch::Device device = resolve_device(options.device);
  LoadedModel m = load_model(options.model, device);
  TrainConfig tc = read_train_config(m.file.file.metadata);
  auto dataset = open_dataset(options.data, options.kind, options.subset);
  TransformOptions tr;
  tr.size = options.image_size > 0 ? options.image_size : tc.image_size;
  tr.channels = m.config.image_channels;
  tr.fit = tc.fit == "resize" ? FitMode::Resize : FitMode::CenterCrop;
  LoaderOptions lo;
  lo.batch_size = static_cast<size_t>(std::max(1, options.batch_size));
  lo.threads = std::max(1, options.loader_threads);
  BatchLoader loader(*dataset, tr, lo);

  // Reconstruction FID (the paper's Table 1): originals against full reconstructions.
  std::unique_ptr<FidExtractor> fid_real, fid_fake;
  if (options.fid) {
    std::string weights = find_inception_weights(options.inception);  // fails before any work
    FidOptions fo;
    fo.device = options.device;
    fid_real = std::make_unique<FidExtractor>(fo);
    fid_fake = std::make_unique<FidExtractor>(fo);
    fid_real->load(weights);
    fid_fake->load(weights);
  }
  const int n = m.config.num_layers();
  CodeStats stats(m.config.layer_table_sizes());
  // The entropy models the codec would use, one per map.
  std::vector<LayerEntropyModel> entropy;
  Coder coder = Coder::RansCtx;
  if (options.bits) {
    coder = parse_coder(options.coder);
    const bool needs_counts = coder == Coder::Rans || coder == Coder::RansCtx;
    if (needs_counts && m.counts.empty())
      throw Error(fmt::format("{}: the model has no code counts, so --bits cannot use {}", options.model, options.coder));
    const auto sizes = m.config.layer_table_sizes();
    const uint32_t codes = static_cast<uint32_t>(m.config.codes);
    for (int l = 0; l < n; ++l) {
      if (m.counts.empty()) entropy.emplace_back(std::vector<uint64_t>(codes, 0), 1, codes);
      else entropy.emplace_back(m.counts[l], static_cast<uint32_t>(sizes[l] / codes), codes);
    }
  }
  std::vector<double> file_bits(n, 0.0), payload_bits(n, 0.0);
  double raw_bits = 0;
  std::vector<double> sq_by_layers(n, 0.0);
  double pixels = 0;
  ReconReport report;
  auto start = std::chrono::steady_clock::now();
  size_t batches = loader.batches_per_epoch();
  for (size_t b = 0; b < batches; ++b) {
    Batch batch = loader.next();
    auto x = batch_to_tensor(batch).to(device);
    auto maps = m.net->encode(x);
    add_code_stats(m.config, m.net->quantizers(), maps, stats);
    if (options.bits) {
      for (int64_t b = 0; b < x.size(0); ++b) {
        std::vector<std::vector<uint16_t>> symbols;
        std::vector<uint32_t> widths;
        for (auto& map : maps) {
          auto one = map[b].contiguous().to(torch::kCPU);
          const int64_t* p = one.data_ptr<int64_t>();
          symbols.emplace_back(p, p + one.numel());
          widths.push_back(static_cast<uint32_t>(one.size(1)));
          raw_bits += double(one.numel()) * std::log2(double(m.config.codes));
        }
        auto segments = encode_index_maps(symbols, widths, entropy, m.config.quantizer == QuantizerKind::Hr,
                                          static_cast<unsigned>(m.config.groups),
                                          static_cast<uint32_t>(m.config.codes), coder);
        double payload = 0, file = 8.0 * kBitstreamHeaderSize;
        for (int l = 0; l < n; ++l) {
          payload += 8.0 * segments[l].size();
          file += 8.0 * (kSegmentHeaderSize + segments[l].size());
          payload_bits[l] += payload;
          file_bits[l] += file;
        }
      }
    }
    for (int k = 1; k <= n; ++k) {
      // The decoder's output quantized to 8 bits, as a decoded image file would be.
      auto y = m.net->decode(maps, k, x.size(2), x.size(3)).clamp(0, 1).mul(255).round().div(255);
      sq_by_layers[k - 1] += (y - x).pow(2).sum().item<double>();
      if (fid_fake && k == n)
        for (int64_t i = 0; i < y.size(0); ++i) {
          fid_real->add(tensor_to_image(x[i]));
          fid_fake->add(tensor_to_image(y[i]));
        }
    }
    pixels += static_cast<double>(x.numel());
    report.images += batch.count;
    if (options.progress) options.progress(report.images, dataset->size());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.skipped = loader.skipped();
  if (report.images == 0) throw Error(fmt::format("{}: no image could be read", options.data));
  for (int k = 0; k < n; ++k) report.mse_by_layers.push_back(sq_by_layers[k] / pixels);
  if (options.bits) {
    report.coder = coder_name(coder);
    for (int k = 0; k < n; ++k) {
      report.file_bits_by_layers.push_back(file_bits[k] / double(report.images));
      report.payload_bits_by_layers.push_back(payload_bits[k] / double(report.images));
    }
    report.raw_bits_per_image = raw_bits / double(report.images);
    report.pixels_per_image = pixels / double(report.images) / m.config.image_channels;
  }
  report.mse = report.mse_by_layers.back();
  report.psnr = report.mse > 0 ? 10 * std::log10(1.0 / report.mse) : 99.0;
  for (int l = 0; l < n; ++l) {
    report.usage.push_back(stats.usage(l));
    report.used.push_back(stats.used(l));
    report.rows.push_back(static_cast<int64_t>(stats.counts(l).size()));
    report.perplexity.push_back(stats.perplexity(l));
  }
  report.images_per_second = report.seconds > 0 ? report.images / report.seconds : 0;
  if (fid_real) report.fid = frechet_distance(fid_real->statistics(), fid_fake->statistics());
  return report;
}

std::string recon_report_table(const ReconReport& r) {
  std::string out = fmt::format("images      {}\n", r.images);
  if (r.skipped) out += fmt::format("skipped     {} (corrupt)\n", r.skipped);
  out += fmt::format("MSE         {:.6f}\nPSNR        {:.2f} dB\n", r.mse, r.psnr);
  if (r.fid >= 0) out += fmt::format("FID         {:.3f} (reconstructions vs originals)\n", r.fid);
  out += fmt::format("seconds     {:.2f} ({:.1f} images/s)\n\n", r.seconds, r.images_per_second);
  const bool bits = !r.file_bits_by_layers.empty();
  if (bits)
    out += fmt::format("bits        {} coder; raw index bits {:.1f} per image, {:.4f} per pixel\n\n", r.coder,
                       r.raw_bits_per_image, r.raw_bits_per_image / r.pixels_per_image);
  out += "layers  MSE       PSNR(dB)  codes used      perplexity";
  out += bits ? "  file bits/image  bpp\n" : "\n";
  for (size_t k = 0; k < r.mse_by_layers.size(); ++k) {
    double p = r.mse_by_layers[k] > 0 ? 10 * std::log10(1.0 / r.mse_by_layers[k]) : 99.0;
    out += fmt::format("1..{:<4}{:<10.6f}{:<10.2f}{:<16}{:<11.1f}", k + 1, r.mse_by_layers[k], p,
                       fmt::format("{}/{} ({:.0f}%)", r.used[k], r.rows[k], 100 * r.usage[k]), r.perplexity[k]);
    if (bits)
      out += fmt::format("{:<17.1f}{:.4f}", r.file_bits_by_layers[k], r.file_bits_by_layers[k] / r.pixels_per_image);
    out += "\n";
  }
  return out;
}

std::string recon_report_json(const ReconReport& r) {
  return fmt::format(
      "{{\"images\":{},\"skipped\":{},\"mse\":{:.8g},\"psnr\":{:.4f},\"mse_by_layers\":[{}],\"usage\":[{}],"
      "\"codes_used\":[{}],\"codes\":[{}],\"perplexity\":[{}],\"seconds\":{:.3f},\"images_per_s\":{:.2f}{}}}",
      r.images, r.skipped, r.mse, r.psnr, fmt::join(r.mse_by_layers, ","), fmt::join(r.usage, ","),
      fmt::join(r.used, ","), fmt::join(r.rows, ","), fmt::join(r.perplexity, ","), r.seconds, r.images_per_second,
      (r.fid >= 0 ? fmt::format(",\"fid\":{:.4f}", r.fid) : std::string()) +
          (r.file_bits_by_layers.empty()
               ? std::string()
               : fmt::format(",\"coder\":\"{}\",\"file_bits_by_layers\":[{}],\"payload_bits_by_layers\":[{}],"
                             "\"raw_bits_per_image\":{:.3f},\"pixels_per_image\":{:.1f}",
                             r.coder, fmt::join(r.file_bits_by_layers, ","), fmt::join(r.payload_bits_by_layers, ","),
                             r.raw_bits_per_image, r.pixels_per_image)));
}

}  // namespace hrvq
