// The code prior's networks. One gated PixelCNN per code layer:
//   - a vertical stack of convolutions that only see rows strictly above, and a
//     horizontal stack that sees the vertical stack plus the same row strictly to the
//     left, so the receptive field is the whole raster-order past with no blind spot;
//   - a non-causal conditioning network over what is fully known before this layer is
//     generated: position coordinates, embeddings of every earlier layer's local codes
//     and (hr) of the parent's global code, resized to this layer's grid; its output is a
//     bias of every gated unit.
// Causality comes from padding and kernel shapes, not masks, so no weight is a stored zero.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "hrvq/config.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/prior.hpp"
#include "model_io.hpp"

namespace hrvq {

// What a prior is over: the layers of one autoencoder at one image size.
struct PriorShape {
  int layers = 0;
  int64_t codes = 0;                                  // alphabet m of every layer
  std::vector<std::pair<int64_t, int64_t>> grids;     // (h, w) per layer
  bool hierarchical = false;                          // hr: parent global codes condition layer i
  int image_height = 0, image_width = 0, image_channels = 0;
  int64_t codes_per_image() const;
};

// Embedding table of parent global codes is kept only while it stays this small;
// above it the earlier layers' local embeddings alone carry the parent.
constexpr int64_t kMaxParentTable = 1 << 16;

class GatedLayerImpl : public torch::nn::Module {
 public:
  GatedLayerImpl(int channels, int kernel, int cond_channels, bool first);
  // v, h: (B, C, H, W). cond: (B, cond_channels, H, W). Returns the new (v, h).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& v, const torch::Tensor& h,
                                                  const torch::Tensor& cond);

 private:
  int kernel_;
  bool first_;
  torch::nn::Conv2d vconv_{nullptr}, hconv_{nullptr}, v_to_h_{nullptr}, h_out_{nullptr}, cond_{nullptr};
};
TORCH_MODULE(GatedLayer);

class LayerPriorImpl : public torch::nn::Module {
 public:
  LayerPriorImpl(const PriorShape& shape, int layer, const PriorConfig& config);
  // Conditioning features (B, cond_channels, h, w) from the earlier layers' maps
  // (B, h_j, w_j) for j < layer; batch size from `batch`.
  torch::Tensor condition(const std::vector<torch::Tensor>& earlier, int64_t batch, torch::Device device);
  // Logits (B, m, rows, w) of this layer's codes `x` (B, rows, w); `cond` may cover more
  // rows than x (only its first rows are used), so sampling can run on a prefix of rows.
  torch::Tensor logits(const torch::Tensor& x, const torch::Tensor& cond);

 private:
  PriorShape shape_;
  int layer_;
  PriorConfig config_;
  torch::nn::Embedding input_embed_{nullptr};
  std::vector<torch::nn::Embedding> earlier_embed_;
  torch::nn::Embedding parent_embed_{nullptr};
  torch::nn::Conv2d cond_in_{nullptr};
  std::vector<std::pair<torch::nn::Conv2d, torch::nn::Conv2d>> cond_blocks_;
  std::vector<GatedLayer> gated_;
  torch::nn::Conv2d head1_{nullptr}, head2_{nullptr};
};
TORCH_MODULE(LayerPrior);

class CodePriorImpl : public torch::nn::Module {
 public:
  CodePriorImpl(PriorShape shape, PriorConfig config);
  // Logits (B, m, h, w) of `layer` given the true maps of every layer up to it.
  torch::Tensor layer_logits(int layer, const std::vector<torch::Tensor>& maps);
  // Summed cross-entropy in nats of each layer's codes, (layers) tensor.
  torch::Tensor nll_sum(const std::vector<torch::Tensor>& maps);
  // Ancestral sampling of `batch` code maps; every draw comes from `generator` (CPU).
  std::vector<torch::Tensor> sample(int64_t batch, double temperature, torch::Device device,
                                    at::Generator& generator);
  const PriorShape& shape() const { return shape_; }
  const PriorConfig& config() const { return config_; }
  LayerPrior layer(int i) const { return layers_[i]; }

 private:
  PriorShape shape_;
  PriorConfig config_;
  std::vector<LayerPrior> layers_;
};
TORCH_MODULE(CodePrior);

// The shape a model's codes have at its training image size.
PriorShape prior_shape_for(const LoadedModel& model);

// Prior files: metadata and weights.
void write_prior_metadata(const PriorShape& shape, const PriorConfig& config, uint64_t model_fingerprint,
                          Metadata& meta);
void store_prior_weights(CodePrior& prior, ModelFile& file);
void load_prior_weights(CodePrior& prior, const ModelFile& file);

struct LoadedPrior {
  CodePrior net{nullptr};
  PriorConfig config;
  PriorShape shape;
  LoadedModelFile file;
};
// Reads a prior file written for `model`; another model's prior is an hrvq::Error.
LoadedPrior load_prior(const std::string& path, const LoadedModel& model, torch::Device device);

// Images (B, C, H, W) in [0, 1] at the prior's image size from sampled code maps.
torch::Tensor decode_samples(LoadedModel& model, const PriorShape& shape, const std::vector<torch::Tensor>& maps);

// A CPU generator seeded with `seed`.
at::Generator make_generator(uint64_t seed);

}  // namespace hrvq
