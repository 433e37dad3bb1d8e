// Choosing each tile's depth for a version-3 depth map (depth_map.hpp): a Lagrangian per
// tile, depth_t = argmin D_t(d) + lambda * R_t(d), over a few candidate depths, with D
// the squared error of the tile's pixels decoded at uniform depth d and R its code bits
// under the model's static per-parent tables. lambda is then searched so that the whole
// file meets the rate target. Measured on BSDS500 validation photos before it was built
// (docs/adaptive-rate-study.md): +0.2 to +0.5 dB at equal bits between 0.15 and 0.65 bpp.
// Torch-free: the codec supplies the decodes and the sizes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "hrvq/entropy_model.hpp"
#include "hrvq/image.hpp"

namespace hrvq {

struct TileCosts {
  size_t tiles = 0;
  std::vector<int> depths;   // candidate depths, ascending
  std::vector<double> sse;   // [tile * depths.size() + c]: the tile's pixel squared error at depths[c]
  std::vector<double> bits;  // the same layout: the tile's code bits in maps 0..depths[c]-1

  size_t candidates() const { return depths.size(); }
};

// Each tile's depth minimising sse + lambda * bits (ties: the shallower).
std::vector<uint8_t> choose_depths(const TileCosts& costs, double lambda);
// Σ of the tiles' sse for a choice of depths (each one of costs.depths).
double choice_sse(const TileCosts& costs, const std::vector<uint8_t>& depths);
// Σ of the tiles' bits for a choice of depths (each one of costs.depths).
double choice_bits(const TileCosts& costs, const std::vector<uint8_t>& depths);

// Per tile of tile_px x tile_px pixels (tiles_x x tiles_y of them, the last row and
// column cut by the image), the squared error between two images of one size, summed
// over channels, in 8-bit units.
std::vector<double> tile_sse(const Image& a, const Image& b, uint32_t tile_px, uint32_t tiles_x, uint32_t tiles_y);

// Static code bits of every position of every map: -log2 of its probability under its
// context's quantized table, the contexts chained as the coder chains them
// (map_contexts.hpp). All maps have the same positions (hr, rvq).
std::vector<std::vector<float>> position_bits(const std::vector<std::vector<uint16_t>>& maps,
                                              const std::vector<LayerEntropyModel>& models, bool hierarchical,
                                              unsigned groups, uint32_t m);
// Per tile (tile x tile positions of a grid_w-wide grid) and depth d in `depths`, the bits
// of maps 0..d-1 at its positions: the layout of TileCosts::bits.
std::vector<double> tile_bits(const std::vector<std::vector<float>>& bits, uint32_t grid_w, uint32_t grid_h,
                              uint32_t tile, const std::vector<int>& depths);

// Bisection over log(lambda) in [lo, hi] for the smallest lambda at which `holds` is true,
// given that it holds at hi and is (near enough) monotone: `iterations` probes.
// Returns hi when it holds nowhere below.
double smallest_lambda(double lo, double hi, int iterations, const std::function<bool(double)>& holds);

}  // namespace hrvq
