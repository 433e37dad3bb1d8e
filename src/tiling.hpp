// Splitting a large image, or a large latent grid, into overlapping tiles whose
// interiors the network computes exactly as it would on the whole input.
#pragma once
#include <cstdint>
#include <vector>

#include "hrvq/config.hpp"

namespace hrvq {

// One tile along one axis, in units of the caller's alignment: the network reads
// [in_begin, in_end) and the caller keeps [out_begin, out_end) of what it produces.
struct TileSpan {
  int64_t in_begin = 0, in_end = 0;
  int64_t out_begin = 0, out_end = 0;
};

// Interiors of `tile` units cover [0, extent) without overlap; each is widened by
// `halo` on both sides, clipped to the extent. tile <= 0 or tile >= extent: one span.
std::vector<TileSpan> plan_tiles(int64_t extent, int64_t tile, int64_t halo);

// Context, in pixels, the encoder needs around an interior so that its codes equal the
// whole-image codes: the receptive field of a latent position (plus one latent of
// margin), rounded up to the grid factor.
int64_t encoder_halo_pixels(const ModelConfig& config);
// The same for the decoder, in finest-grid latent positions, rounded up to the latent
// alignment (2 for vq2, whose top grid is half the resolution).
int64_t decoder_halo_latents(const ModelConfig& config);

}  // namespace hrvq
