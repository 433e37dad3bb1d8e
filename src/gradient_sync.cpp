#include "gradient_sync.hpp"

#include <chrono>

namespace hrvq {

GradientSync::GradientSync(std::vector<torch::Tensor> params, Communicator& comm, size_t bucket_bytes)
    : params_(std::move(params)), comm_(comm) {
  size_t in_bucket = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const size_t bytes = static_cast<size_t>(params_[i].numel()) * params_[i].element_size();
    if (buckets_.empty() || (in_bucket > 0 && in_bucket + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      in_bucket = 0;
    }
    buckets_.back().push_back(i);
    in_bucket += bytes;
    bytes_ += bytes;
  }
}

void GradientSync::average() {
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

}  // namespace hrvq
