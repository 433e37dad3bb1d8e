// Encoder-side search over a residual quantizer's codes. The greedy quantizer picks, at
// each layer, the code nearest to what is left; a beam keeps the `width` best partial
// paths instead (for hr, each path's last code still selects the codebook its next
// layer searches) and returns, per position, the path whose sum of code vectors is
// nearest to the latent (or cheapest in distortion + lambda * bits, with code costs).
// The decoder is unchanged: it only ever sees code indices.
#pragma once
#include <vector>

#include <torch/torch.h>

#include "quantizer.hpp"

namespace hrvq {

// Rate-distortion optimised choice: with costs (one tensor per layer, the bits the
// entropy model charges for each row of that layer's table) and lambda > 0, paths are
// ranked by ||z - sum e||^2 + lambda * bits instead of the distance alone.
struct CodeCosts {
  std::vector<torch::Tensor> bits;  // per layer: (rows,) float, -log2 p(row | its parent)
  double lambda = 0;                // squared latent error per bit
  bool active() const { return lambda > 0 && !bits.empty(); }
};

// z: (N, D). Returns the local code of every position at each of the first `layers`
// layers (N each, int64); width 1 without costs is the greedy search.
std::vector<torch::Tensor> beam_search(const ResidualQuantizerImpl& quantizer, const torch::Tensor& z, int width,
                                       int layers, const CodeCosts& costs = {});

}  // namespace hrvq
