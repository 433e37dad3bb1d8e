// Averages gradients over the ranks of a data-parallel job after the backward pass, so
// every rank applies the same update: gradients are packed into buckets of at most
// `bucket_bytes`, each bucket is one all-reduce, and all buckets are in flight together.
#pragma once
#include <cstddef>
#include <vector>

#include <torch/torch.h>

#include "distributed.hpp"

namespace hrvq {

class GradientSync {
 public:
  GradientSync(std::vector<torch::Tensor> params, Communicator& comm, size_t bucket_bytes = size_t{25} << 20);
  // Replaces every defined gradient by its mean over the ranks. Which gradients are
  // defined depends only on the step's (shared) choices, so it is the same on all ranks;
  // undefined ones travel as zeros and stay undefined.
  void average();
  size_t bytes_per_step() const { return bytes_; }
  size_t buckets() const { return buckets_.size(); }
  double seconds() const { return seconds_; }  // spent in average(), cumulative

 private:
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
  Communicator& comm_;
  size_t bytes_ = 0;
  double seconds_ = 0;
};

}  // namespace hrvq
