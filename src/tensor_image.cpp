#include "tensor_image.hpp"

namespace hrvq {

torch::Tensor batch_to_tensor(const Batch& batch) {
  auto t = torch::from_blob(const_cast<uint8_t*>(batch.pixels.data()),
                            {static_cast<int64_t>(batch.count), batch.channels, batch.height, batch.width}, torch::kUInt8);
  return t.to(torch::kFloat32).div_(255.0);
}

torch::Tensor image_to_tensor(const Image& image) {
  auto t = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, image.channels},
                            torch::kUInt8);
  return t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0).contiguous();
}

Image tensor_to_image(const torch::Tensor& chw) {
  auto t = chw.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255.0).round().to(torch::kUInt8);
  t = t.permute({1, 2, 0}).contiguous();
  Image image;
  image.channels = static_cast<int>(t.size(2));
  image.height = static_cast<int>(t.size(0));
  image.width = static_cast<int>(t.size(1));
  image.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return image;
}

Image make_grid(const std::vector<torch::Tensor>& rows) {
  const int64_t gap = 2;
  int64_t n = rows[0].size(0), c = rows[0].size(1), h = rows[0].size(2), w = rows[0].size(3);
  auto canvas = torch::ones({c, static_cast<int64_t>(rows.size()) * (h + gap) - gap, n * (w + gap) - gap});
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t i = 0; i < n; ++i)
      canvas.slice(1, r * (h + gap), r * (h + gap) + h).slice(2, i * (w + gap), i * (w + gap) + w)
          .copy_(rows[r][i].to(torch::kCPU, torch::kFloat32).clamp(0, 1));
  return tensor_to_image(canvas);
}

}  // namespace hrvq
