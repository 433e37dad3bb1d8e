// Conversions between 8-bit images/batches and float tensors in [0, 1].
#pragma once
#include <torch/torch.h>

#include "hrvq/dataset.hpp"
#include "hrvq/image.hpp"

namespace hrvq {

torch::Tensor batch_to_tensor(const Batch& batch);                  // (N, C, H, W) float [0, 1]
torch::Tensor image_to_tensor(const Image& image);                  // (1, C, H, W) float [0, 1]
Image tensor_to_image(const torch::Tensor& chw);                    // clamps, rounds; (C, H, W)
// A grid of rows of images, all (N, C, H, W) with the same C, H, W, 2-pixel gaps.
Image make_grid(const std::vector<torch::Tensor>& rows);

}  // namespace hrvq
