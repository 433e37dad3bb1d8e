// An encoder or decoder network compiled once into a frozen TorchScript graph for
// inference on the CPU in fp32.
//
// Eager LibTorch hands every convolution to oneDNN with an NCHW or channels-last tensor
// and plain OIHW weights, so each call reorders the weights and the activations into
// oneDNN's blocked layouts and back. Frozen and passed through optimize_for_inference,
// the same network keeps its weights prepacked as constants and its activations in
// oneDNN's layout from the first convolution to the last (pixel shuffle excepted), with
// the same kernels and so the same arithmetic. The codec's decode runs 3-7% faster with
// it than with the eager modules once malloc keeps freed memory (runtime.cpp,
// docs/codec-speed.md); the encoder ran slower frozen than eager channels-last, so the
// codec freezes only the decoder.
#pragma once
#include <memory>
#include <string>

#include <torch/torch.h>

namespace hrvq {

class FrozenNetwork {
 public:
  // Compiles `net`, a Sequential of the modules networks.hpp builds (Conv2d,
  // ConvTranspose2d, ReLU, ResBlock, SubpixelUp), with a copy of its current weights:
  // training `net` afterwards does not change the frozen graph. Throws std::invalid_argument
  // for a module it does not know.
  static FrozenNetwork compile(const torch::nn::Sequential& net, const std::string& name);

  // (B, C, H, W) fp32 on the CPU, any memory format; returns a contiguous NCHW tensor.
  torch::Tensor forward(const torch::Tensor& x) const;

 private:
  std::shared_ptr<torch::jit::Module> module_;
};

}  // namespace hrvq
