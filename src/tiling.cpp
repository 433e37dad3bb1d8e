#include "tiling.hpp"

#include <algorithm>

namespace hrvq {

std::vector<TileSpan> plan_tiles(int64_t extent, int64_t tile, int64_t halo) {
  if (tile <= 0 || tile >= extent) return {TileSpan{0, extent, 0, extent}};
  std::vector<TileSpan> spans;
  for (int64_t begin = 0; begin < extent; begin += tile) {
    TileSpan s;
    s.out_begin = begin;
    s.out_end = std::min(extent, begin + tile);
    s.in_begin = std::max<int64_t>(0, s.out_begin - halo);
    s.in_end = std::min(extent, s.out_end + halo);
    spans.push_back(s);
  }
  return spans;
}

namespace {

int64_t round_up(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

}  // namespace

// Receptive fields, in latent positions of the finest grid, of the networks in
// networks.cpp with R residual blocks:
//  - encoder: the 4x4 stride-2 convolutions reach less than one latent beyond the
//    position's own pixels; the 3x3 convolution and each block's 3x3 add one: R + 2.
//  - vq2 encoder: the bottom codes also see the top codes through the top decoder
//    (R + 1 top positions plus the upsampling, <= 2(R + 3) bottom latents), and each
//    top code sees features through the stride-2 top encoder (<= 2R + 5 bottom
//    latents): 5R + 13 in all.
//  - decoder: the 3x3 convolution and the blocks give R + 1; the upsampling steps add
//    less than two latents together. vq2 upsamples the top map first: up to 4 more.
// One latent more is kept as margin: an under-estimate would show as seams, an
// over-estimate only costs compute.
int64_t encoder_halo_pixels(const ModelConfig& c) {
  int64_t r = c.res_blocks;
  int64_t latents = c.quantizer == QuantizerKind::Vq2 ? 5 * r + 14 : r + 3;
  return round_up(latents * c.downsample, c.grid_factor());
}

int64_t decoder_halo_latents(const ModelConfig& c) {
  int64_t r = c.res_blocks;
  if (c.quantizer == QuantizerKind::Vq2) return round_up(r + 8, 2);
  return r + 4;
}

}  // namespace hrvq
