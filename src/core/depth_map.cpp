#include "hrvq/depth_map.hpp"

#include <algorithm>
#include <string>

#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"

namespace hrvq {

namespace {

uint32_t tiles_along(uint32_t side, uint32_t tile) { return (side + tile - 1) / tile; }

// The depth coder's model: one context, every count zero, so its first table is uniform
// over the depths and rans-ctx's neighbour contexts do the learning.
LayerEntropyModel depth_model(unsigned layers) {
  return LayerEntropyModel(std::vector<uint64_t>(layers, 0), 1, layers);
}

}  // namespace

DepthMap make_depth_map(uint32_t grid_w, uint32_t grid_h, uint32_t tile, uint8_t depth) {
  if (tile < 1 || tile > kMaxDepthTile) throw Error("depth map tile side must be 1.." + std::to_string(kMaxDepthTile));
  DepthMap map;
  map.tile = tile;
  map.tiles_x = tiles_along(grid_w, tile);
  map.tiles_y = tiles_along(grid_h, tile);
  map.depth.assign(map.tiles(), depth);
  return map;
}

std::vector<uint8_t> position_depths(const DepthMap& map, uint32_t grid_w, uint32_t grid_h, unsigned cap) {
  const uint8_t top = static_cast<uint8_t>(std::min(cap, 255u));
  std::vector<uint8_t> out(size_t(grid_w) * grid_h, top);
  if (map.empty()) return out;
  if (map.tiles_x != tiles_along(grid_w, map.tile) || map.tiles_y != tiles_along(grid_h, map.tile) ||
      map.depth.size() != map.tiles())
    throw Error("depth map does not match the latent grid");
  for (uint32_t y = 0; y < grid_h; ++y)
    for (uint32_t x = 0; x < grid_w; ++x)
      out[size_t(y) * grid_w + x] = std::min(top, map.depth[size_t(y / map.tile) * map.tiles_x + x / map.tile]);
  return out;
}

std::vector<uint8_t> encode_depth_map(const DepthMap& map, unsigned layers) {
  if (map.empty() || map.depth.size() != map.tiles()) throw Error("encode_depth_map: no depth map");
  std::vector<uint16_t> symbols(map.depth.size());
  std::vector<uint32_t> contexts(map.depth.size(), 0);
  for (size_t t = 0; t < symbols.size(); ++t) {
    if (map.depth[t] < 1 || map.depth[t] > layers) throw Error("encode_depth_map: a depth is outside 1..layers");
    symbols[t] = static_cast<uint16_t>(map.depth[t] - 1);
  }
  return encode_index_map_2d(symbols.data(), contexts.data(), symbols.size(), map.tiles_x, depth_model(layers),
                             Coder::RansCtx);
}

DepthMap decode_depth_map(const uint8_t* data, size_t size, uint32_t grid_w, uint32_t grid_h, uint32_t tile,
                          unsigned layers, unsigned layers_present) {
  DepthMap map = make_depth_map(grid_w, grid_h, tile, 1);
  std::vector<uint32_t> contexts(map.tiles(), 0);
  auto symbols = decode_index_map_2d(data, size, contexts.data(), contexts.size(), map.tiles_x, depth_model(layers),
                                     Coder::RansCtx);
  unsigned deepest = 0;
  for (size_t t = 0; t < symbols.size(); ++t) {
    const unsigned depth = symbols[t] + 1u;
    if (depth > layers_present)
      throw Error("tile " + std::to_string(t) + " has depth " + std::to_string(depth) + " but the file holds " +
                  std::to_string(layers_present) + " layers");
    map.depth[t] = static_cast<uint8_t>(depth);
    deepest = std::max(deepest, depth);
  }
  if (deepest != layers_present)
    throw Error("the deepest tile has depth " + std::to_string(deepest) + " but the file holds " +
                std::to_string(layers_present) + " layers");
  return map;
}

}  // namespace hrvq
