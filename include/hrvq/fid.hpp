// Fréchet Inception Distance, computed as pytorch-fid computes it: the same
// InceptionV3 graph and weights (pt_inception-2015-12-05-6726825d.pth), the same input
// pipeline, mean and covariance of the 2048-d pool3 features in float64, and
// d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hrvq/image.hpp"

namespace hrvq {

constexpr const char* kInceptionWeightsName = "pt_inception-2015-12-05-6726825d.pth";
constexpr const char* kInceptionWeightsUrl =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";

// Finds the Inception weights: `explicit_path` (from --inception) when not empty, else
// $HRVQ_INCEPTION, else pytorch-fid's download cache ($TORCH_HOME or
// ~/.cache/torch/hub/checkpoints). Throws hrvq::Error saying how to obtain the file.
std::string find_inception_weights(const std::string& explicit_path = "");

struct FidStatistics {
  int64_t count = 0;            // images the statistics were computed from
  std::vector<double> mu;       // dim
  std::vector<double> sigma;    // dim x dim, row-major, unbiased (n - 1) covariance
  int64_t dim() const { return static_cast<int64_t>(mu.size()); }
};

// Statistics from feature rows (count x dim, row-major), as numpy's mean and
// cov(rowvar=False) of float32 features: accumulated in float64. Needs count >= 2.
FidStatistics fid_statistics_from_features(const float* features, int64_t count, int64_t dim);

// Statistics file, little-endian:
//   "HRVQFIDS" | u32 version (1) | u32 dim (1..8192) | u64 count | f64 mu[dim] |
//   f64 sigma[dim*dim] | u32 CRC-32 (zlib) of all preceding bytes.
void save_fid_statistics(const FidStatistics& stats, const std::string& path, bool overwrite = true);
FidStatistics load_fid_statistics(const std::string& path);
// True when the file exists and starts with the statistics magic.
bool is_fid_statistics_file(const std::string& path);

// The Fréchet distance of two Gaussians (float64). tr((S1 S2)^(1/2)) is taken as the
// sum of square roots of the eigenvalues of the symmetric PSD matrix
// A = S1^(1/2) S2 S1^(1/2), which has the same spectrum as S1 S2; S1^(1/2) comes from
// a symmetric eigendecomposition. Rounding makes tiny negative eigenvalues, which are
// clamped to 0, so singular covariances (fewer images than dimensions) need no offset.
// The result is clamped at 0 likewise. pytorch-fid's mean is float32 (numpy's mean of
// float32 features); ours is float64, a difference of about 1e-8 relative in the FID.
double frechet_distance(const FidStatistics& a, const FidStatistics& b);

struct FidOptions {
  int batch_size = 50;
  std::string device = "auto";  // auto | cpu | cuda
};

// Runs InceptionV3 over images in batches and accumulates feature statistics.
class FidExtractor {
 public:
  explicit FidExtractor(FidOptions options = {});
  ~FidExtractor();
  FidExtractor(const FidExtractor&) = delete;
  FidExtractor& operator=(const FidExtractor&) = delete;

  // Loads the weights (see find_inception_weights); must precede add().
  void load(const std::string& weights_path);
  // Buffers the image; a full batch is run through the network.
  void add(const Image& image);
  void add(const std::vector<Image>& images);
  // Features of these images (N x 2048 row-major), not accumulated.
  std::vector<float> features(const std::vector<Image>& images);
  // Runs what is buffered and returns the statistics of every image added so far.
  FidStatistics statistics();
  int64_t count() const;  // images processed or buffered
  void reset();
  // Called after each batch with the number of images processed so far.
  void set_progress(std::function<void(int64_t processed)> callback);
  std::string device_name() const;  // "cpu" or "cuda"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrvq
