#include "networks.hpp"

namespace hrvq {

namespace nn = torch::nn;

ResBlockImpl::ResBlockImpl(int channels, int res_channels) {
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(channels, res_channels, 3).padding(1)));
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(res_channels, channels, 1)));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  return x + conv1->forward(torch::relu(conv3->forward(torch::relu(x))));
}

EncoderImpl::EncoderImpl(int in_channels, int channels, int res_blocks, int res_channels, int stride) {
  net = nn::Sequential();
  int half = channels / 2;
  if (stride == 2) {
    net->push_back(nn::Conv2d(nn::Conv2dOptions(in_channels, half, 4).stride(2).padding(1)));
    net->push_back(nn::ReLU());
    net->push_back(nn::Conv2d(nn::Conv2dOptions(half, channels, 3).padding(1)));
  } else {
    int steps = stride == 4 ? 2 : 3;
    int c = in_channels;
    for (int s = 0; s < steps; ++s) {
      int out = s + 1 == steps ? channels : half;
      net->push_back(nn::Conv2d(nn::Conv2dOptions(c, out, 4).stride(2).padding(1)));
      net->push_back(nn::ReLU());
      c = out;
    }
    net->push_back(nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1)));
  }
  for (int i = 0; i < res_blocks; ++i) net->push_back(ResBlock(channels, res_channels));
  net->push_back(nn::ReLU());
  register_module("net", net);
}

SubpixelUpImpl::SubpixelUpImpl(int in, int out) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out * 4, 3).padding(1)));
}

torch::Tensor SubpixelUpImpl::forward(const torch::Tensor& x) { return torch::pixel_shuffle(conv->forward(x), 2); }

void apply_icnr(nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& module : root.modules(/*include_self=*/true)) {
    auto up = std::dynamic_pointer_cast<SubpixelUpImpl>(module);
    if (!up) continue;
    // pixel_shuffle sends channel 4c + s to sub-pixel s of output channel c: giving the
    // four sub-pixels of each channel the same kernel makes the layer start out as
    // nearest-neighbour upsampling of one convolution, free of checkerboard patterns.
    auto& w = up->conv->weight;
    auto& b = up->conv->bias;
    const int64_t out = w.size(0) / 4;
    auto base = w.view({out, 4, w.size(1), w.size(2), w.size(3)}).select(1, 0).clone();
    w.copy_(base.unsqueeze(1).expand({out, 4, w.size(1), w.size(2), w.size(3)}).reshape(w.sizes()));
    if (b.defined()) {
      auto base_b = b.view({out, 4}).select(1, 0).clone();
      b.copy_(base_b.unsqueeze(1).expand({out, 4}).reshape(b.sizes()));
    }
  }
}

nn::AnyModule make_upsample(int in_channels, int out_channels, UpsampleKind kind) {
  if (kind == UpsampleKind::Transpose)
    return nn::AnyModule(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in_channels, out_channels, 4).stride(2).padding(1)));
  return nn::AnyModule(SubpixelUp(in_channels, out_channels));
}

DecoderImpl::DecoderImpl(int in_channels, int out_channels, int channels, int res_blocks, int res_channels,
                         int stride, UpsampleKind upsample) {
  net = nn::Sequential();
  net->push_back(nn::Conv2d(nn::Conv2dOptions(in_channels, channels, 3).padding(1)));
  for (int i = 0; i < res_blocks; ++i) net->push_back(ResBlock(channels, res_channels));
  net->push_back(nn::ReLU());
  int steps = stride == 2 ? 1 : stride == 4 ? 2 : 3;
  int c = channels;
  for (int s = 0; s < steps; ++s) {
    bool last = s + 1 == steps;
    int out = last ? out_channels : channels / 2;
    net->push_back(make_upsample(c, out, upsample));
    if (!last) net->push_back(nn::ReLU());
    c = out;
  }
  register_module("net", net);
}

}  // namespace hrvq
