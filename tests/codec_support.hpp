// Fixtures for the codec tests: tiny random-weight model files and synthetic images.
#pragma once
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine_support.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/config.hpp"
#include "hrvq/image.hpp"
#include "hrvq/model_file.hpp"
#include "model.hpp"
#include "model_io.hpp"

namespace hrvq::codec_test {

using test::TempDir;

inline ModelConfig tiny_config(QuantizerKind q = QuantizerKind::Hr, int image_channels = 3) {
  ModelConfig c;
  c.quantizer = q;
  c.image_channels = image_channels;
  c.channels = 8;
  c.res_blocks = 1;
  c.res_channels = 4;
  c.embed_dim = 4;
  c.downsample = 4;
  c.layers = q == QuantizerKind::Vq ? 1 : q == QuantizerKind::Vq2 ? 2 : 3;
  c.codes = q == QuantizerKind::Hr || q == QuantizerKind::Rvq ? 4 : 16;
  return c;
}

// Codec options for tests: the CPU, tiles of `tile` pixels (0: whole images).
inline CodecOptions cpu(int tile = 512) {
  CodecOptions o;
  o.device = "cpu";
  o.tile = tile;
  return o;
}

// A model file with random weights and, if asked, random code counts.
inline std::string make_model(const std::string& path, const ModelConfig& config, uint64_t seed = 1,
                              bool counts = true) {
  torch::manual_seed(seed);
  HrvqModel net(config);
  ModelFile file;
  write_model_config(config, file.metadata);
  write_train_config(TrainConfig{}, file.metadata);
  store_weights(net, file);
  if (counts) {
    std::mt19937_64 rng(seed);
    std::vector<std::vector<uint64_t>> c;
    for (int64_t rows : config.layer_table_sizes()) {
      std::vector<uint64_t> layer(static_cast<size_t>(rows));
      for (auto& v : layer) v = rng() % 1000;
      c.push_back(std::move(layer));
    }
    store_code_counts(c, file);
  }
  save_model_file(file, path);
  return path;
}

// Smooth gradients plus noise: structure for the codes, and no two positions alike.
inline Image test_image(int width, int height, int channels, uint32_t seed = 1) {
  Image im;
  im.width = width;
  im.height = height;
  im.channels = channels;
  im.pixels.resize(size_t(width) * height * channels);
  std::mt19937 rng(seed);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double v = 128 + 90 * std::sin(0.21 * x + 0.13 * y * (c + 1) + seed) + int(rng() % 40) - 20;
        im.pixels[(size_t(y) * width + x) * channels + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return im;
}

}  // namespace hrvq::codec_test
