// hrvq eval recon: reconstruction quality of a model on a dataset.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hrvq/dataset.hpp"

namespace hrvq {

struct ReconOptions {
  std::string model;
  std::string data;
  DatasetKind kind = DatasetKind::Auto;
  Subset subset;
  int image_size = 0;            // 0: the model's training size and fit
  int batch_size = 64;
  std::string device = "auto";
  int loader_threads = 2;
  bool fid = false;               // also reconstruction FID (originals vs reconstructions)
  std::string inception;          // the Inception weights (see find_inception_weights)
  // Also the entropy-coded size of every image's code maps with this coder ("rans-ctx",
  // "rans", "zstd", "raw"), as .hrvq files of each prefix of maps would hold them.
  bool bits = false;
  std::string coder = "rans-ctx";
  std::function<void(size_t done, size_t total)> progress;
};

struct ReconReport {
  size_t images = 0;
  size_t skipped = 0;
  double mse = 0;                      // pixels in [0, 1], mean over pixels and images
  double psnr = 0;                     // 10 log10(1 / mse)
  std::vector<double> mse_by_layers;   // decoding from the first 1..n layers
  std::vector<double> usage;           // fraction of each layer's table rows used
  std::vector<int64_t> used, rows;
  std::vector<double> perplexity;
  double seconds = 0;
  double images_per_second = 0;
  double fid = -1;                     // reconstruction FID, when asked for (-1 otherwise)
  // With ReconOptions::bits: mean bits per image of the .hrvq file holding the first
  // 1..n maps (header and segment framing included), its payload alone, and the raw
  // index bits (log2 m per position and map).
  std::string coder;
  std::vector<double> file_bits_by_layers, payload_bits_by_layers;
  double raw_bits_per_image = 0;
  double pixels_per_image = 0;
};

ReconReport evaluate_reconstruction(const ReconOptions& options);

std::string recon_report_table(const ReconReport& report);
std::string recon_report_json(const ReconReport& report);

}  // namespace hrvq
