// The depth map of a version-3 bitstream (format/bitstream.md, "Depth map"): the image's
// latent grid cut into square tiles, and for each tile the number of index maps that
// cover it. A position of a tile of depth D holds codes in maps 0..D-1 only, so flat
// areas can stop early while textured ones go deep, with the decoder unchanged: it sums
// the maps a position holds. Torch-free; the container (bitstream.hpp) stores the map,
// the codec (codec.hpp) decides it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hrvq {

// Largest tile side, in latent positions of the finest grid.
constexpr uint32_t kMaxDepthTile = 255;

struct DepthMap {
  uint32_t tile = 0;               // tile side in latent positions; 0: no depth map
  uint32_t tiles_x = 0, tiles_y = 0;
  std::vector<uint8_t> depth;      // tiles_y * tiles_x, raster order, each 1..layers present

  bool empty() const { return tile == 0; }
  size_t tiles() const { return size_t(tiles_x) * tiles_y; }
};

// A map of `tile`-sided tiles over a grid_w x grid_h grid, every tile at `depth`.
DepthMap make_depth_map(uint32_t grid_w, uint32_t grid_h, uint32_t tile, uint8_t depth);

// The depth of every grid position (raster order), capped at `cap` (the maps a decoder
// has: a truncated file or --layers). An empty map gives `cap` everywhere.
std::vector<uint8_t> position_depths(const DepthMap& map, uint32_t grid_w, uint32_t grid_h, unsigned cap);

// The payload of the depth segment: the tiles' depth - 1 as a rans-ctx index map of
// tiles_x columns with one context and an all-zero count table over `layers` symbols
// (entropy_model.hpp), so it adapts to the image from a uniform start.
std::vector<uint8_t> encode_depth_map(const DepthMap& map, unsigned layers);
// The inverse; throws hrvq::Error with the reason (the caller names the file) on a
// malformed payload or a depth outside 1..layers_present.
DepthMap decode_depth_map(const uint8_t* data, size_t size, uint32_t grid_w, uint32_t grid_h, uint32_t tile,
                          unsigned layers, unsigned layers_present);

}  // namespace hrvq
