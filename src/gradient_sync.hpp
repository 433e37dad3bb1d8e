// Averages gradients over the ranks of a data-parallel job, so every rank applies the
// same update. Two strategies with the same result, bit for bit (each gradient is the
// same sum of the same per-rank values, then scaled):
// - after the backward pass: every gradient packed into buckets of at most 25 MB, all
//   in flight together once backward() has returned;
// - overlapped (gradient_sync_overlapped.cpp): buckets of about 1 MB in the order the
//   backward pass produces gradients, each all-reduce started by autograd hooks as soon
//   as its bucket is complete, so communication runs while the rest of the backward
//   pass computes.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "distributed.hpp"

namespace hrvq {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Called after backward(): replaces every defined gradient by its mean over the
  // ranks. Which gradients are defined depends only on the step's (shared) choices, so
  // it is the same on all ranks; undefined ones travel as zeros and stay undefined.
  virtual void average() = 0;
  size_t bytes_per_step() const { return bytes_; }
  size_t buckets() const { return buckets_.size(); }
  // Spent in average(), cumulative: for the overlapped strategy only the communication
  // the backward pass did not hide.
  double seconds() const { return seconds_; }

 protected:
  // Buckets of parameter indices, in parameter order or its reverse, each at most
  // `bucket_bytes` unless one parameter alone is larger; a bucket never mixes dtypes or
  // devices.
  GradientSync(std::vector<torch::Tensor> params, bool reverse, size_t bucket_bytes);
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
  size_t bytes_ = 0;
  double seconds_ = 0;
};

enum class GradientOverlap { AfterBackward, Overlapped };

// --dist-overlap auto|on|off for training on `device`; throws hrvq::Error on other text.
GradientOverlap gradient_overlap_for(const std::string& choice, const torch::Device& device);

// A job of one gets a sync that does nothing.
// bucket_bytes 0: 25 MB after the backward pass, 1 MB overlapped.
std::unique_ptr<GradientSync> make_gradient_sync(std::vector<torch::Tensor> params, Communicator& comm,
                                                 GradientOverlap overlap, size_t bucket_bytes = 0);
std::unique_ptr<GradientSync> overlapped_gradient_sync(std::vector<torch::Tensor> params, Communicator& comm,
                                                       size_t bucket_bytes);

}  // namespace hrvq
