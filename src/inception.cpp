#include "inception.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "hrvq/error.hpp"

namespace hrvq {
namespace inception {
namespace F = torch::nn::functional;

namespace {
// TensorFlow's average pool, which pytorch-fid reproduces: padding is not counted.
torch::Tensor tf_avg_pool(const torch::Tensor& x) {
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
}
torch::Tensor max_pool(const torch::Tensor& x, int64_t stride, int64_t padding = 0) {
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(stride).padding(padding));
}
}  // namespace

BasicConv2dImpl::BasicConv2dImpl(int64_t in, int64_t out, torch::ExpandingArray<2> kernel,
                                 torch::ExpandingArray<2> stride, torch::ExpandingArray<2> padding) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(0.001)));
}

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) { return torch::relu(bn->forward(conv->forward(x))); }

#define HRVQ_CONV(name, ...) name = register_module(#name, BasicConv2d(__VA_ARGS__))

BlockAImpl::BlockAImpl(int64_t in, int64_t pool_features) {
  HRVQ_CONV(branch1x1, in, 64, 1);
  HRVQ_CONV(branch5x5_1, in, 48, 1);
  HRVQ_CONV(branch5x5_2, 48, 64, 5, 1, 2);
  HRVQ_CONV(branch3x3dbl_1, in, 64, 1);
  HRVQ_CONV(branch3x3dbl_2, 64, 96, 3, 1, 1);
  HRVQ_CONV(branch3x3dbl_3, 96, 96, 3, 1, 1);
  HRVQ_CONV(branch_pool, in, pool_features, 1);
}

torch::Tensor BlockAImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch1x1(x), branch5x5_2(branch5x5_1(x)), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                     branch_pool(tf_avg_pool(x))},
                    1);
}

BlockBImpl::BlockBImpl(int64_t in) {
  HRVQ_CONV(branch3x3, in, 384, 3, 2);
  HRVQ_CONV(branch3x3dbl_1, in, 64, 1);
  HRVQ_CONV(branch3x3dbl_2, 64, 96, 3, 1, 1);
  HRVQ_CONV(branch3x3dbl_3, 96, 96, 3, 2);
}

torch::Tensor BlockBImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))), max_pool(x, 2)}, 1);
}

BlockCImpl::BlockCImpl(int64_t in, int64_t c7) {
  using A = torch::ExpandingArray<2>;
  HRVQ_CONV(branch1x1, in, 192, 1);
  HRVQ_CONV(branch7x7_1, in, c7, 1);
  HRVQ_CONV(branch7x7_2, c7, c7, A({1, 7}), 1, A({0, 3}));
  HRVQ_CONV(branch7x7_3, c7, 192, A({7, 1}), 1, A({3, 0}));
  HRVQ_CONV(branch7x7dbl_1, in, c7, 1);
  HRVQ_CONV(branch7x7dbl_2, c7, c7, A({7, 1}), 1, A({3, 0}));
  HRVQ_CONV(branch7x7dbl_3, c7, c7, A({1, 7}), 1, A({0, 3}));
  HRVQ_CONV(branch7x7dbl_4, c7, c7, A({7, 1}), 1, A({3, 0}));
  HRVQ_CONV(branch7x7dbl_5, c7, 192, A({1, 7}), 1, A({0, 3}));
  HRVQ_CONV(branch_pool, in, 192, 1);
}

torch::Tensor BlockCImpl::forward(const torch::Tensor& x) {
  torch::Tensor b7 = branch7x7_3(branch7x7_2(branch7x7_1(x)));
  torch::Tensor b7dbl = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))));
  return torch::cat({branch1x1(x), b7, b7dbl, branch_pool(tf_avg_pool(x))}, 1);
}

BlockDImpl::BlockDImpl(int64_t in) {
  using A = torch::ExpandingArray<2>;
  HRVQ_CONV(branch3x3_1, in, 192, 1);
  HRVQ_CONV(branch3x3_2, 192, 320, 3, 2);
  HRVQ_CONV(branch7x7x3_1, in, 192, 1);
  HRVQ_CONV(branch7x7x3_2, 192, 192, A({1, 7}), 1, A({0, 3}));
  HRVQ_CONV(branch7x7x3_3, 192, 192, A({7, 1}), 1, A({3, 0}));
  HRVQ_CONV(branch7x7x3_4, 192, 192, 3, 2);
}

torch::Tensor BlockDImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch3x3_2(branch3x3_1(x)), branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x)))),
                     max_pool(x, 2)},
                    1);
}

BlockEImpl::BlockEImpl(int64_t in, bool max_pool_branch) : max_pool(max_pool_branch) {
  using A = torch::ExpandingArray<2>;
  HRVQ_CONV(branch1x1, in, 320, 1);
  HRVQ_CONV(branch3x3_1, in, 384, 1);
  HRVQ_CONV(branch3x3_2a, 384, 384, A({1, 3}), 1, A({0, 1}));
  HRVQ_CONV(branch3x3_2b, 384, 384, A({3, 1}), 1, A({1, 0}));
  HRVQ_CONV(branch3x3dbl_1, in, 448, 1);
  HRVQ_CONV(branch3x3dbl_2, 448, 384, 3, 1, 1);
  HRVQ_CONV(branch3x3dbl_3a, 384, 384, A({1, 3}), 1, A({0, 1}));
  HRVQ_CONV(branch3x3dbl_3b, 384, 384, A({3, 1}), 1, A({1, 0}));
  HRVQ_CONV(branch_pool, in, 192, 1);
}

torch::Tensor BlockEImpl::forward(const torch::Tensor& x) {
  torch::Tensor b3 = branch3x3_1(x);
  b3 = torch::cat({branch3x3_2a(b3), branch3x3_2b(b3)}, 1);
  torch::Tensor bd = branch3x3dbl_2(branch3x3dbl_1(x));
  bd = torch::cat({branch3x3dbl_3a(bd), branch3x3dbl_3b(bd)}, 1);
  // Mixed_7c of the FID graph max-pools here (FIDInceptionE_2); Mixed_7b averages.
  torch::Tensor pooled = max_pool ? inception::max_pool(x, 1, 1) : tf_avg_pool(x);
  return torch::cat({branch1x1(x), b3, bd, branch_pool(pooled)}, 1);
}

}  // namespace inception

FidInceptionV3Impl::FidInceptionV3Impl() {
  using namespace inception;
  HRVQ_CONV(Conv2d_1a_3x3, 3, 32, 3, 2);
  HRVQ_CONV(Conv2d_2a_3x3, 32, 32, 3);
  HRVQ_CONV(Conv2d_2b_3x3, 32, 64, 3, 1, 1);
  HRVQ_CONV(Conv2d_3b_1x1, 64, 80, 1);
  HRVQ_CONV(Conv2d_4a_3x3, 80, 192, 3);
  Mixed_5b = register_module("Mixed_5b", BlockA(192, 32));
  Mixed_5c = register_module("Mixed_5c", BlockA(256, 64));
  Mixed_5d = register_module("Mixed_5d", BlockA(288, 64));
  Mixed_6a = register_module("Mixed_6a", BlockB(288));
  Mixed_6b = register_module("Mixed_6b", BlockC(768, 128));
  Mixed_6c = register_module("Mixed_6c", BlockC(768, 160));
  Mixed_6d = register_module("Mixed_6d", BlockC(768, 160));
  Mixed_6e = register_module("Mixed_6e", BlockC(768, 192));
  Mixed_7a = register_module("Mixed_7a", BlockD(768));
  Mixed_7b = register_module("Mixed_7b", BlockE(1280, false));
  Mixed_7c = register_module("Mixed_7c", BlockE(2048, true));
  eval();
}

#undef HRVQ_CONV

torch::Tensor FidInceptionV3Impl::forward(torch::Tensor x) {
  x = Conv2d_2b_3x3(Conv2d_2a_3x3(Conv2d_1a_3x3(x)));
  x = inception::max_pool(x, 2);
  x = Conv2d_4a_3x3(Conv2d_3b_1x1(x));
  x = inception::max_pool(x, 2);
  x = Mixed_5d(Mixed_5c(Mixed_5b(x)));
  x = Mixed_6e(Mixed_6d(Mixed_6c(Mixed_6b(Mixed_6a(x)))));
  x = Mixed_7c(Mixed_7b(Mixed_7a(x)));
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

void FidInceptionV3Impl::load_weights(const StateDict& weights, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> targets;
  for (auto& p : named_parameters(true)) targets.emplace(p.key(), p.value());
  for (auto& b : named_buffers(true)) targets.emplace(b.key(), b.value());
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  auto shape = [](const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); };
  for (const auto& [key, value] : weights) {
    if (targets.count(key)) continue;
    // The 1008-way classifier of the original graph is not part of pool3.
    if ((key == "fc.weight" && value.dim() == 2 && value.size(1) == 2048) || (key == "fc.bias" && value.dim() == 1))
      continue;
    throw Error(fmt::format("{}: unexpected key '{}' (not an InceptionV3 FID weight file?)", source, key));
  }
  for (auto& [key, target] : targets) {
    auto it = weights.find(key);
    if (it == weights.end()) {
      // Files written before BatchNorm counted its batches lack this buffer.
      if (ends_with(key, ".num_batches_tracked")) continue;
      throw Error(fmt::format("{}: missing key '{}'", source, key));
    }
    if (it->second.sizes() != target.sizes())
      throw Error(fmt::format("{}: key '{}' has shape {}, expected {}", source, key, shape(it->second), shape(target)));
    if (!it->second.is_floating_point() && target.is_floating_point())
      throw Error(fmt::format("{}: key '{}' is not a floating-point tensor", source, key));
    target.copy_(it->second);
  }
}

torch::Tensor inception_input(const std::vector<const Image*>& images, const torch::Device& device) {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> resized;
  resized.reserve(images.size());
  for (const Image* image : images) {
    if ((image->channels != 1 && image->channels != 3) || image->width <= 0 || image->height <= 0 ||
        image->pixels.size() != static_cast<size_t>(image->width) * image->height * image->channels)
      throw Error(fmt::format("FID: invalid image ({}x{}, {} channels)", image->width, image->height, image->channels));
    torch::Tensor t = torch::from_blob(const_cast<uint8_t*>(image->pixels.data()),
                                       {image->height, image->width, image->channels}, torch::kUInt8)
                          .to(device)
                          .permute({2, 0, 1})
                          .to(torch::kFloat)
                          .div(255)
                          .unsqueeze(0);
    if (image->channels == 1) t = t.expand({1, 3, image->height, image->width});
    resized.push_back(F::interpolate(
        t, F::InterpolateFuncOptions().size(std::vector<int64_t>{299, 299}).mode(torch::kBilinear).align_corners(false)));
  }
  return torch::cat(resized, 0).mul(2).sub(1);
}

}  // namespace hrvq
