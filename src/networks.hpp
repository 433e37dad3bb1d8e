// The VQ-VAE-2 style encoder and decoder shared by every quantizer.
#pragma once
#include <torch/torch.h>

#include "hrvq/config.hpp"

namespace hrvq {

struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int channels, int res_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv3{nullptr}, conv1{nullptr};
};
TORCH_MODULE(ResBlock);

// image (B, in, H, W) -> features (B, out, H/stride, W/stride); stride 2, 4 or 8.
struct EncoderImpl : torch::nn::Module {
  EncoderImpl(int in_channels, int channels, int res_blocks, int res_channels, int stride);
  torch::Tensor forward(const torch::Tensor& x) { return net->forward(x); }
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(Encoder);

// latent (B, in, h, w) -> (B, out, h*stride, w*stride).
struct DecoderImpl : torch::nn::Module {
  DecoderImpl(int in_channels, int out_channels, int channels, int res_blocks, int res_channels, int stride,
              UpsampleKind upsample);
  torch::Tensor forward(const torch::Tensor& x) { return net->forward(x); }
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(Decoder);

// x2 upsampling by a 3x3 convolution to 4x the channels, then pixel shuffle.
struct SubpixelUpImpl : torch::nn::Module {
  SubpixelUpImpl(int in, int out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(SubpixelUp);

// One x2 upsampling step: a 4x4 stride-2 transposed convolution, or an equal-receptive-
// field sub-pixel convolution (3x3 conv to 4x channels, then pixel shuffle), which runs
// on oneDNN where ConvTranspose2d does not in LibTorch 1.13.
torch::nn::AnyModule make_upsample(int in_channels, int out_channels, UpsampleKind kind);

// ICNR initialisation (Aitken et al. 2017) of every sub-pixel upsampler under `root`.
void apply_icnr(torch::nn::Module& root);

}  // namespace hrvq
