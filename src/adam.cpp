#include "adam.hpp"

#include <cmath>

#include <fmt/format.h>

#include "hrvq/error.hpp"
#include "model_io.hpp"

namespace hrvq {

Adam::Adam(std::vector<std::pair<std::string, torch::Tensor>> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (auto& p : params_) {
    m_.push_back(torch::zeros_like(p.second));
    v_.push_back(torch::zeros_like(p.second));
  }
}

void Adam::zero_grad() {
  for (auto& p : params_) {
    auto& g = p.second.mutable_grad();
    if (g.defined()) g.zero_();
  }
}

void Adam::step() {
  torch::NoGradGuard no_grad;
  ++t_;
  double bc1 = 1 - std::pow(beta1_, static_cast<double>(t_));
  double bc2 = 1 - std::pow(beta2_, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    const auto& g = p.grad();
    if (!g.defined()) continue;
    m_[i].mul_(beta1_).add_(g, 1 - beta1_);
    v_[i].mul_(beta2_).addcmul_(g, g, 1 - beta2_);
    auto denom = (v_[i] / bc2).sqrt_().add_(eps_);
    p.addcdiv_(m_[i], denom, -lr_ / bc1);
  }
}

void Adam::save(ModelFile& file) const {
  file.metadata.set_int("adam.t", t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    file.put(from_torch("adam.m." + params_[i].first, m_[i]));
    file.put(from_torch("adam.v." + params_[i].first, v_[i]));
  }
}

void Adam::load(const ModelFile& file) {
  torch::NoGradGuard no_grad;
  t_ = file.metadata.get_int("adam.t");
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, target] : {std::pair{"adam.m.", &m_[i]}, std::pair{"adam.v.", &v_[i]}}) {
      auto src = to_torch(file.tensor(prefix + params_[i].first));
      if (!src.sizes().equals(target->sizes()))
        throw Error(fmt::format("{}: optimizer state for '{}' has the wrong shape", file.metadata.name(), params_[i].first));
      target->copy_(src);
    }
  }
}

}  // namespace hrvq
