// InceptionV3 as pytorch-fid uses it for FID (its FIDInceptionV3, the TensorFlow
// graph of 2015-12-05 ported to PyTorch), up to the 2048-d pool3 features.
// It differs from torchvision's InceptionV3: the average pools inside Mixed_5b..5d,
// Mixed_6b..6e and Mixed_7b leave the zero padding out of the average
// (count_include_pad=False, as TensorFlow does), and Mixed_7c pools with max instead
// of average. Module names follow pytorch-fid so that parameter names equal the keys
// of pt_inception-2015-12-05-6726825d.pth.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "hrvq/image.hpp"
#include "state_dict_reader.hpp"

namespace hrvq {
namespace inception {

// Conv (no bias) + BatchNorm (eps 0.001) + ReLU: torchvision's BasicConv2d.
struct BasicConv2dImpl : torch::nn::Module {
  BasicConv2dImpl(int64_t in, int64_t out, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride = 1,
                  torch::ExpandingArray<2> padding = 0);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

struct BlockAImpl : torch::nn::Module {
  BlockAImpl(int64_t in, int64_t pool_features);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(BlockA);

struct BlockBImpl : torch::nn::Module {
  explicit BlockBImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(BlockB);

struct BlockCImpl : torch::nn::Module {
  BlockCImpl(int64_t in, int64_t c7);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr}, branch7x7_3{nullptr},
      branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr}, branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr},
      branch7x7dbl_5{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(BlockC);

struct BlockDImpl : torch::nn::Module {
  explicit BlockDImpl(int64_t in);
  torch::Tensor forward(const torch::Tensor& x);
  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr},
      branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(BlockD);

struct BlockEImpl : torch::nn::Module {
  // max_pool: the pool branch of Mixed_7c (FIDInceptionE_2).
  BlockEImpl(int64_t in, bool max_pool);
  torch::Tensor forward(const torch::Tensor& x);
  bool max_pool;
  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr}, branch3x3_2b{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(BlockE);

}  // namespace inception

struct FidInceptionV3Impl : torch::nn::Module {
  FidInceptionV3Impl();
  // x: N x 3 x 299 x 299, values in [-1, 1]. Returns N x 2048 pool3 features.
  torch::Tensor forward(torch::Tensor x);

  // Copies the weights in; every parameter and buffer must be present with its shape.
  // The classifier (fc.weight, fc.bias) and BatchNorm's num_batches_tracked may be in
  // the file and are ignored; any other extra key is an error.
  void load_weights(const StateDict& weights, const std::string& source);

  inception::BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr},
      Conv2d_3b_1x1{nullptr}, Conv2d_4a_3x3{nullptr};
  inception::BlockA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  inception::BlockB Mixed_6a{nullptr};
  inception::BlockC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  inception::BlockD Mixed_7a{nullptr};
  inception::BlockE Mixed_7b{nullptr}, Mixed_7c{nullptr};
};
TORCH_MODULE(FidInceptionV3);

// pytorch-fid's input pipeline for images of any size: uint8 -> [0, 1], gray repeated
// to RGB, bilinear resize to 299 x 299 (align_corners=False, no antialiasing, as
// F.interpolate), then scaled to [-1, 1]. Returns N x 3 x 299 x 299 float on `device`.
torch::Tensor inception_input(const std::vector<const Image*>& images, const torch::Device& device);

}  // namespace hrvq
