// Encoder-side search over a residual quantizer's codes. The greedy quantizer picks, at
// each layer, the code nearest to what is left; a beam keeps the `width` best partial
// paths instead (for hr, each path's last code still selects the codebook its next
// layer searches) and returns, per position, the path whose sum of code vectors is
// nearest to the latent. The decoder is unchanged: it only ever sees code indices.
#pragma once
#include <vector>

#include <torch/torch.h>

#include "quantizer.hpp"

namespace hrvq {

// z: (N, D). Returns the local code of every position at each of the first `layers`
// layers (N each, int64); width 1 is the greedy search.
std::vector<torch::Tensor> beam_search(const ResidualQuantizerImpl& quantizer, const torch::Tensor& z, int width,
                                       int layers);

}  // namespace hrvq
