#include "hrvq/fid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "device.hpp"
#include "inception.hpp"
#include "state_dict_reader.hpp"

namespace hrvq {
namespace {

constexpr char kStatsMagic[8] = {'H', 'R', 'V', 'Q', 'F', 'I', 'D', 'S'};
constexpr uint32_t kStatsVersion = 1;
constexpr uint32_t kMaxStatsDim = 8192;
constexpr size_t kStatsHeader = 8 + 4 + 4 + 8;

std::string how_to_get_weights(const std::string& why) {
  return fmt::format(
      "FID needs the InceptionV3 weights of pytorch-fid ({}): download {} and pass the file with --inception PATH "
      "or the HRVQ_INCEPTION environment variable",
      why, kInceptionWeightsUrl);
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

torch::Tensor as_tensor(const std::vector<double>& v, std::initializer_list<int64_t> shape) {
  return torch::from_blob(const_cast<double*>(v.data()), shape, torch::kDouble).clone();
}

void check_stats(const FidStatistics& s, const char* which) {
  const auto d = static_cast<size_t>(s.dim());
  if (d == 0 || s.sigma.size() != d * d)
    throw Error(fmt::format("FID: statistics {} are malformed (dim {}, covariance of {} values)", which, d, s.sigma.size()));
}

void put(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

uint32_t crc_of(const uint8_t* p, size_t n) { return crc32(p, n); }

}  // namespace

std::string find_inception_weights(const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    if (!is_file(explicit_path)) throw Error(how_to_get_weights(fmt::format("'{}' not found", explicit_path)));
    return explicit_path;
  }
  if (const char* env = std::getenv("HRVQ_INCEPTION"); env && *env) {
    if (!is_file(env)) throw Error(how_to_get_weights(fmt::format("HRVQ_INCEPTION='{}' not found", env)));
    return env;
  }
  // Where pytorch-fid itself leaves the file after downloading it.
  std::vector<std::string> dirs;
  if (const char* t = std::getenv("TORCH_HOME"); t && *t) dirs.push_back(std::string(t) + "/hub/checkpoints");
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dirs.push_back(std::string(x) + "/torch/hub/checkpoints");
  if (const char* h = std::getenv("HOME"); h && *h) dirs.push_back(std::string(h) + "/.cache/torch/hub/checkpoints");
  for (const auto& dir : dirs) {
    const std::string candidate = dir + "/" + kInceptionWeightsName;
    if (is_file(candidate)) return candidate;
  }
  throw Error(how_to_get_weights(fmt::format("{} not found", kInceptionWeightsName)));
}

// ---------------------------------------------------------------------------------
// Statistics

namespace {

// Sums of features shifted by the first batch's mean: the shift keeps the
// sum-of-products formula for the covariance from cancelling catastrophically.
struct Accumulator {
  int64_t n = 0;
  torch::Tensor shift, sum, outer;  // float64, CPU

  void add(torch::Tensor features) {  // N x D, any float type
    if (features.size(0) == 0) return;
    features = features.to(torch::kCPU, torch::kDouble);
    if (n == 0) {
      shift = features.mean(0);
      sum = torch::zeros_like(shift);
      outer = torch::zeros({shift.size(0), shift.size(0)}, torch::kDouble);
    }
    const torch::Tensor centered = features - shift;
    sum += centered.sum(0);
    outer.addmm_(centered.t(), centered);
    n += features.size(0);
  }

  FidStatistics finish() const {
    if (n < 2) throw Error(fmt::format("FID: needs at least 2 images, got {}", n));
    const torch::Tensor mean_c = sum / static_cast<double>(n);
    const torch::Tensor mu = (shift + mean_c).contiguous();
    torch::Tensor cov = (outer - torch::outer(sum, mean_c)) / static_cast<double>(n - 1);
    cov = ((cov + cov.t()) / 2).contiguous();
    FidStatistics s;
    s.count = n;
    s.mu.assign(mu.data_ptr<double>(), mu.data_ptr<double>() + mu.numel());
    s.sigma.assign(cov.data_ptr<double>(), cov.data_ptr<double>() + cov.numel());
    return s;
  }
};

}  // namespace

FidStatistics fid_statistics_from_features(const float* features, int64_t count, int64_t dim) {
  if (count < 0 || dim <= 0 || dim > kMaxStatsDim) throw Error(fmt::format("FID: bad feature matrix {} x {}", count, dim));
  Accumulator acc;
  acc.add(torch::from_blob(const_cast<float*>(features), {count, dim}, torch::kFloat));
  return acc.finish();
}

void save_fid_statistics(const FidStatistics& stats, const std::string& path, bool overwrite) {
  check_stats(stats, path.c_str());
  if (stats.dim() > kMaxStatsDim) throw Error(fmt::format("{}: dimension {} too large", path, stats.dim()));
  std::vector<uint8_t> out;
  out.reserve(kStatsHeader + 8 * (stats.mu.size() + stats.sigma.size()) + 4);
  const uint32_t dim = static_cast<uint32_t>(stats.dim());
  const uint64_t count = static_cast<uint64_t>(stats.count);
  // The host is little-endian (x86-64, aarch64): values are written as they are in memory.
  put(out, kStatsMagic, 8);
  put(out, &kStatsVersion, 4);
  put(out, &dim, 4);
  put(out, &count, 8);
  put(out, stats.mu.data(), 8 * stats.mu.size());
  put(out, stats.sigma.data(), 8 * stats.sigma.size());
  const uint32_t crc = crc_of(out.data(), out.size());
  put(out, &crc, 4);
  write_file_atomic(path, out, overwrite);
}

FidStatistics load_fid_statistics(const std::string& path) {
  const uint64_t max_bytes = kStatsHeader + 8ull * (kMaxStatsDim + uint64_t{kMaxStatsDim} * kMaxStatsDim) + 4;
  const std::vector<uint8_t> b = read_file(path, max_bytes);
  if (b.size() < kStatsHeader + 4 || std::memcmp(b.data(), kStatsMagic, 8) != 0)
    throw Error(fmt::format("{}: not an hrvq FID statistics file", path));
  uint32_t version = 0, dim = 0;
  uint64_t count = 0;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&dim, b.data() + 12, 4);
  std::memcpy(&count, b.data() + 16, 8);
  if (version != kStatsVersion) throw Error(fmt::format("{}: FID statistics version {} is not supported", path, version));
  if (dim == 0 || dim > kMaxStatsDim) throw Error(fmt::format("{}: FID statistics dimension {} out of range", path, dim));
  const uint64_t expect = kStatsHeader + 8ull * (dim + uint64_t{dim} * dim) + 4;
  if (b.size() != expect)
    throw Error(fmt::format("{}: FID statistics file has {} bytes, expected {} (truncated?)", path, b.size(), expect));
  uint32_t crc = 0;
  std::memcpy(&crc, b.data() + b.size() - 4, 4);
  if (crc != crc_of(b.data(), b.size() - 4)) throw Error(fmt::format("{}: FID statistics file is corrupt (CRC mismatch)", path));
  if (count > (uint64_t{1} << 62)) throw Error(fmt::format("{}: FID statistics count out of range", path));
  FidStatistics s;
  s.count = static_cast<int64_t>(count);
  s.mu.resize(dim);
  s.sigma.resize(uint64_t{dim} * dim);
  std::memcpy(s.mu.data(), b.data() + kStatsHeader, 8 * s.mu.size());
  std::memcpy(s.sigma.data(), b.data() + kStatsHeader + 8 * s.mu.size(), 8 * s.sigma.size());
  return s;
}

bool is_fid_statistics_file(const std::string& path) {
  if (!is_file(path)) return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[8];
  const bool ok = std::fread(magic, 1, 8, f) == 8 && std::memcmp(magic, kStatsMagic, 8) == 0;
  std::fclose(f);
  return ok;
}

double frechet_distance(const FidStatistics& a, const FidStatistics& b) {
  check_stats(a, "A");
  check_stats(b, "B");
  if (a.dim() != b.dim()) throw Error(fmt::format("FID: statistics of dimension {} and {} cannot be compared", a.dim(), b.dim()));
  const int64_t d = a.dim();
  torch::NoGradGuard no_grad;
  const torch::Tensor mu1 = as_tensor(a.mu, {d}), mu2 = as_tensor(b.mu, {d});
  const torch::Tensor s1 = as_tensor(a.sigma, {d, d}), s2 = as_tensor(b.sigma, {d, d});
  if (!torch::isfinite(s1).all().item<bool>() || !torch::isfinite(s2).all().item<bool>() ||
      !torch::isfinite(mu1).all().item<bool>() || !torch::isfinite(mu2).all().item<bool>())
    throw Error("FID: statistics contain NaN or infinity");
  auto [evals1, evecs1] = torch::linalg_eigh((s1 + s1.t()) / 2, "L");
  const torch::Tensor sqrt_s1 = torch::matmul(evecs1 * evals1.clamp_min(0).sqrt().unsqueeze(0), evecs1.t());
  torch::Tensor m = torch::matmul(torch::matmul(sqrt_s1, s2), sqrt_s1);
  m = (m + m.t()) / 2;
  const double tr_covmean = torch::linalg_eigvalsh(m, "L").clamp_min(0).sqrt().sum().item<double>();
  const torch::Tensor diff = mu1 - mu2;
  const double d2 = diff.dot(diff).item<double>() + s1.trace().item<double>() + s2.trace().item<double>() - 2 * tr_covmean;
  // Only rounding makes it negative (equal statistics give about -1e-9 of the traces).
  return std::max(d2, 0.0);
}

// ---------------------------------------------------------------------------------
// Extractor

struct FidExtractor::Impl {
  FidOptions options;
  torch::Device device{torch::kCPU};
  FidInceptionV3 model{nullptr};
  std::vector<Image> pending;
  Accumulator acc;
  std::function<void(int64_t)> progress;

  torch::Tensor run(const std::vector<const Image*>& images) {
    if (!model) throw Error("FID: the Inception weights are not loaded");
    torch::InferenceMode guard;
    return model->forward(inception_input(images, device)).to(torch::kCPU, torch::kFloat);
  }
  void flush() {
    if (pending.empty()) return;
    std::vector<const Image*> ptrs;
    for (const auto& im : pending) ptrs.push_back(&im);
    acc.add(run(ptrs));
    pending.clear();
    if (progress) progress(acc.n);
  }
};

FidExtractor::FidExtractor(FidOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.batch_size < 1 || options.batch_size > 4096)
    throw Error(fmt::format("FID: batch size {} out of range 1..4096", options.batch_size));
  impl_->device = resolve_device(options.device);
  impl_->options = std::move(options);
}

FidExtractor::~FidExtractor() = default;

void FidExtractor::load(const std::string& weights_path) {
  if (!is_file(weights_path)) throw Error(how_to_get_weights(fmt::format("'{}' not found", weights_path)));
  FidInceptionV3 model;
  model->load_weights(read_state_dict(weights_path), weights_path);
  model->to(impl_->device);
  model->eval();
  impl_->model = model;
}

void FidExtractor::add(const Image& image) {
  impl_->pending.push_back(image);
  if (static_cast<int>(impl_->pending.size()) >= impl_->options.batch_size) impl_->flush();
}

void FidExtractor::add(const std::vector<Image>& images) {
  for (const auto& im : images) add(im);
}

std::vector<float> FidExtractor::features(const std::vector<Image>& images) {
  std::vector<float> out;
  out.reserve(images.size() * 2048);
  for (size_t start = 0; start < images.size(); start += impl_->options.batch_size) {
    std::vector<const Image*> ptrs;
    for (size_t k = start; k < std::min(images.size(), start + impl_->options.batch_size); ++k) ptrs.push_back(&images[k]);
    const torch::Tensor f = impl_->run(ptrs).contiguous();
    out.insert(out.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  }
  return out;
}

FidStatistics FidExtractor::statistics() {
  impl_->flush();
  return impl_->acc.finish();
}

int64_t FidExtractor::count() const { return impl_->acc.n + static_cast<int64_t>(impl_->pending.size()); }

void FidExtractor::reset() {
  impl_->pending.clear();
  impl_->acc = Accumulator{};
}

void FidExtractor::set_progress(std::function<void(int64_t)> callback) { impl_->progress = std::move(callback); }

std::string FidExtractor::device_name() const { return impl_->device.is_cuda() ? "cuda" : "cpu"; }

}  // namespace hrvq
