// The greedy code search as one fused CPU kernel: for each position, the distance to
// each of the m candidate rows its parent selects and the argmin, written as plain loops
// over the position's own floats. The torch formulation (gather the candidates with
// index_select, one tiny bmm per position, argmin) allocates an (N, m, D) tensor per
// layer and spends most of its time in per-op overhead: for the photo model (m = 8,
// 16-d groups) that made the search cost nearly as much as the encoder network.
//
// Distances are ||e||^2 - 2 e.x, as ResidualQuantizerImpl::select_codes computes them,
// ties going to the lowest index as torch::argmin does. The summation order differs
// from the BLAS one, so a position whose two nearest codes are equally far to within
// float rounding may pick the other one; everything else is identical.
#pragma once
#include <vector>

#include <torch/torch.h>

namespace hrvq {

// Whether the fused kernel handles this search: a CPU float32 table whose codebooks have
// at most kFusedMaxCodes rows each (a larger flat codebook is a real matrix product,
// which BLAS does better).
constexpr int64_t kFusedMaxCodes = 64;
bool fused_search_applies(const torch::Tensor& table, const torch::Tensor& residual, int64_t codes);

// One layer: for each row of residual (N, D), the local index (0..codes-1) of the nearest
// of the `codes` rows [parent * codes, parent * codes + codes) of table (rows, D), or of
// rows [0, codes) when the table is a single codebook (parent is then ignored and may be
// undefined). norms: ||row||^2 of every table row. Returns (N) int64.
torch::Tensor nearest_codes(const torch::Tensor& table, const torch::Tensor& norms, const torch::Tensor& residual,
                            const torch::Tensor& parent, int64_t codes);

// Every layer at once for inference: z (N, D); tables[i] (rows_i, D) with norms[i]; for
// hr (hierarchical) the global row picked at layer i selects layer i+1's codebook, for
// flat residual VQ every layer is one codebook. Each position's residual stays in
// registers and cache across layers. Returns the local codes per layer, (N) int64 each.
std::vector<torch::Tensor> greedy_tree_codes(const std::vector<torch::Tensor>& tables,
                                             const std::vector<torch::Tensor>& norms, const torch::Tensor& z,
                                             int64_t codes, bool hierarchical);

}  // namespace hrvq
