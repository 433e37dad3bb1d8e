// Adam, kept here rather than torch::optim so its state is three plain tensors per
// parameter that a checkpoint stores by name and restores exactly, on LibTorch 1.13 and 2.x.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "hrvq/model_file.hpp"

namespace hrvq {

class Adam {
 public:
  Adam(std::vector<std::pair<std::string, torch::Tensor>> params, double lr, double beta1 = 0.9,
       double beta2 = 0.999, double eps = 1e-8);
  void zero_grad();
  void step();
  int64_t steps() const { return t_; }
  void set_lr(double lr) { lr_ = lr; }
  void save(ModelFile& file) const;        // tensors "adam.m.<name>", "adam.v.<name>", key adam.t
  void load(const ModelFile& file);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> m_, v_;
  double lr_, beta1_, beta2_, eps_;
  int64_t t_ = 0;
};

}  // namespace hrvq
