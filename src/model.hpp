// The autoencoder: encoder, quantizer, decoder. Images enter as float (B, C, H, W) in [0, 1]
// of any size; they are edge-padded to the grid factor and the output is cropped back.
#pragma once
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "hrvq/config.hpp"
#include "beam_search.hpp"
#include "frozen_network.hpp"
#include "networks.hpp"
#include "quantizer.hpp"

namespace hrvq {

struct ForwardResult {
  torch::Tensor reconstruction;   // (B, C, H, W), unclamped, [0, 1] scale
  torch::Tensor recon_loss;       // ||x - D(e_C)||^2 (mean)
  torch::Tensor loss;             // recon_loss + quantizer terms
  torch::Tensor codebook_loss, commitment_loss;
  std::vector<QuantizeResult> quant;  // one per quantizer (two for vq2: top, bottom)
};

// Local code maps of a batch: one (B, h_i, w_i) int64 tensor per index map, in the
// model's map order (ModelConfig::map_index: layer by layer across groups; vq2: top
// then bottom).
using CodeMaps = std::vector<torch::Tensor>;

class HrvqModelImpl : public torch::nn::Module {
 public:
  explicit HrvqModelImpl(const ModelConfig& config);

  // decode_layers = k decodes from the first k index maps (0 = all).
  ForwardResult forward(const torch::Tensor& images, int decode_layers = 0);
  // beam > 1 searches each tree with a beam of that width (beam_search.hpp) instead of
  // greedily; the decoder reads the result like any other code maps.
  // With costs (one per group), codes are chosen by distortion + lambda * bits.
  CodeMaps encode(const torch::Tensor& images, int beam = 1, const std::vector<CodeCosts>* costs = nullptr);
  // Images of `height` x `width` from the code maps of the padded grid. With `depth`
  // (hr, rvq: (B, h, w) integers on the finest grid), map j counts only where depth > j.
  torch::Tensor decode(const CodeMaps& codes, int decode_layers, int64_t height, int64_t width,
                       const torch::Tensor& depth = {});

  // How far each prefix of the maps is from all of them, in the latent space: entry d
  // (0..given) is, per position (B, h, w), ||sum of the code vectors of maps d..given-1||^2,
  // so entry `given` is 0. hr and rvq only. A cheap stand-in for the error of decoding
  // d maps (tile_distortion.hpp).
  std::vector<torch::Tensor> truncation_energy(const CodeMaps& codes);

  // Inference precision of the encoder and decoder networks (kFloat32 or kBFloat16):
  // encode() and decode() cast at their boundaries, so pre_quant, the code search and
  // the codebooks stay fp32 whatever is chosen. Converts the weights; not for training.
  void set_network_dtype(torch::Dtype dtype);
  // Compiles the decoder network into a frozen oneDNN graph (frozen_network.hpp) that
  // decode() then runs instead of the modules: fp32 on the CPU only (otherwise nothing
  // changes), and a snapshot of the current weights, so not for a model still being
  // trained. Same kernels, so the same pixels up to float summation order. (The encoder
  // stays eager: frozen, it ran slower than channels-last; model.cpp.)
  void freeze_for_inference();

  const ModelConfig& config() const { return config_; }
  // The quantizers: one per channel group, or top and bottom for vq2; ForwardResult::quant
  // follows the same order.
  std::vector<ResidualQuantizer> quantizers() const;
  // Grid of latent positions (rows, cols) for an image of the given size, per layer.
  std::vector<std::pair<int64_t, int64_t>> latent_grid(int64_t height, int64_t width) const;

 private:
  torch::Tensor pad(const torch::Tensor& images) const;
  // The encoder network on padded images, in the network dtype, returned as fp32.
  torch::Tensor encoder_features(const torch::Tensor& images);
  // (N, D) latents to G contiguous-channel groups of (N, D/G).
  std::vector<torch::Tensor> split_groups(const torch::Tensor& zf) const;
  // Flattens (B, D, h, w) to (B*h*w, D) and back.
  static torch::Tensor flatten(const torch::Tensor& z);
  static torch::Tensor unflatten(const torch::Tensor& flat, const torch::IntArrayRef& like);

  ModelConfig config_;
  torch::Dtype network_dtype_ = torch::kFloat32;
  Encoder encoder_{nullptr};
  torch::nn::Conv2d pre_quant_{nullptr};
  ResidualQuantizer quantizer_{nullptr};
  // hr and rvq with channel groups: one tree per group of D/G channels; [0] is quantizer_.
  std::vector<ResidualQuantizer> groups_;
  Decoder decoder_{nullptr};
  std::optional<FrozenNetwork> frozen_decoder_;
  // VQ-VAE-2: a top encoder on the bottom features, its quantizer and a decoder back to
  // the bottom grid whose output conditions the bottom quantizer.
  Encoder top_encoder_{nullptr};
  torch::nn::Conv2d top_pre_quant_{nullptr};
  ResidualQuantizer top_quantizer_{nullptr};
  Decoder top_decoder_{nullptr};
  torch::nn::AnyModule top_upsample_;
};
TORCH_MODULE(HrvqModel);

}  // namespace hrvq
