#include "gradient_sync.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "hrvq/error.hpp"

namespace hrvq {

GradientSync::GradientSync(std::vector<torch::Tensor> params, bool reverse, size_t bucket_bytes)
    : params_(std::move(params)) {
  std::vector<size_t> order(params_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (reverse) std::reverse(order.begin(), order.end());
  size_t in_bucket = 0;
  for (size_t i : order) {
    const auto& p = params_[i];
    const size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
    const bool same_kind = !buckets_.empty() && params_[buckets_.back().front()].dtype() == p.dtype() &&
                           params_[buckets_.back().front()].device() == p.device();
    if (!same_kind || (in_bucket > 0 && in_bucket + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      in_bucket = 0;
    }
    buckets_.back().push_back(i);
    in_bucket += bytes;
    bytes_ += bytes;
  }
}

namespace {

class AfterBackwardSync final : public GradientSync {
 public:
  AfterBackwardSync(std::vector<torch::Tensor> params, Communicator& comm, size_t bucket_bytes)
      : GradientSync(std::move(params), false, bucket_bytes), comm_(comm) {}

  void average() override {
    if (comm_.world_size() == 1) return;
    auto start = std::chrono::steady_clock::now();
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> flat;
    for (const auto& bucket : buckets_) {
      std::vector<torch::Tensor> parts;
      for (size_t i : bucket) {
        const auto& g = params_[i].grad();
        parts.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({params_[i].numel()}, params_[i].options()));
      }
      flat.push_back(torch::cat(parts));
    }
    comm_.all_reduce_sum(flat, "gradient all-reduce");
    const double scale = 1.0 / comm_.world_size();
    for (size_t b = 0; b < buckets_.size(); ++b) {
      int64_t offset = 0;
      for (size_t i : buckets_[b]) {
        auto& g = params_[i].mutable_grad();
        const int64_t n = params_[i].numel();
        if (g.defined()) g.copy_(flat[b].narrow(0, offset, n).view_as(g)).mul_(scale);
        offset += n;
      }
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  Communicator& comm_;
};

}  // namespace

GradientOverlap gradient_overlap_for(const std::string& choice, const torch::Device& device) {
  if (choice == "on") return GradientOverlap::Overlapped;
  if (choice == "off") return GradientOverlap::AfterBackward;
  if (choice == "auto") return device.is_cuda() ? GradientOverlap::Overlapped : GradientOverlap::AfterBackward;
  throw Error("--dist-overlap must be auto, on or off, not '" + choice + "'");
}

std::unique_ptr<GradientSync> make_gradient_sync(std::vector<torch::Tensor> params, Communicator& comm,
                                                 GradientOverlap overlap, size_t bucket_bytes) {
  if (overlap == GradientOverlap::Overlapped && comm.world_size() > 1)
    return overlapped_gradient_sync(std::move(params), comm, bucket_bytes ? bucket_bytes : size_t{1} << 20);
  return std::make_unique<AfterBackwardSync>(std::move(params), comm, bucket_bytes ? bucket_bytes : size_t{25} << 20);
}

}  // namespace hrvq
