// Each tile's pixel error at every candidate depth of a depth map (tile_rate.hpp) from a
// few decodes rather than one decode per depth: decoding the image costs about as much
// as encoding it, and trying 9 depths made `--adaptive` ten times slower than a uniform
// encode. Between two decoded ("anchor") depths a and b, a tile's error is interpolated
// along a cheap latent-space proxy q(d) (the energy of the code vectors a prefix of d
// maps leaves out, HrvqModelImpl::truncation_energy), on the model
// sse(d) ~ ceiling + alpha * q(d) that holds while the decoder is near linear around the
// tile's latents: sse(d) = sse(b) + (sse(a) - sse(b)) * (q(d) - q(b)) / (q(a) - q(b)).
// Past the outermost anchors the nearest segment's slope extends it; with one anchor the
// image's overall ratio sse / q is the slope; with none the proxy itself stands in, which
// ranks depths the same way up to lambda's scale (enough when lambda is searched by file
// size). Torch-free: the codec supplies both.
#pragma once
#include <cstddef>
#include <map>
#include <vector>

namespace hrvq {

// proxy[d][t]: q(d) of tile t for every depth d = 0..n (n + 1 vectors of `tiles`).
// decoded: the exact pixel squared error per tile at the depths that were decoded.
// map_weights (n of them, or empty for all 1): map j's share of the proxy,
// q(j) - q(j + 1), counts w_j times, so that a map whose latent energy the decoder turns
// into little pixel change weighs little (map_weights_from_crop).
// Returns the layout of TileCosts::sse ([t * depths.size() + c]) for the candidate depths,
// exact where a depth was decoded, never negative.
std::vector<double> estimate_tile_sse(size_t tiles, const std::vector<int>& depths,
                                      std::vector<std::vector<double>> proxy,
                                      const std::map<int, std::vector<double>>& decoded,
                                      const std::vector<double>& map_weights = {});

// Pixel error per unit of proxy energy for each map j = 0..n-1, measured on one crop of
// the image decoded at every candidate depth: crop_sse[c] is its pixel squared error at
// depths[c] (consecutive), crop_proxy[d] its proxy energy at depth d = 0..n. Measured on
// BSDS500 validation photos, the ratio differs between maps by up to 3.5x (the bundled
// model's fourth map moves the latents far more than the pixels) but little between
// photos (docs/adaptive-tuning.md). Maps the crop cannot measure (outside the
// candidates, or no change in the crop) get the median of the measured ones, and every
// weight is kept within 10x of that median.
std::vector<double> map_weights_from_crop(const std::vector<int>& depths, const std::vector<double>& crop_sse,
                                          const std::vector<double>& crop_proxy);

// Which of the candidate depths lo..hi to decode when `count` decodes are allowed, given
// the uniform depth k0 the target implies: k0 alone for 1; both ends for 2; both ends, k0
// and the rest evenly spaced in the wider side for more (all of them when count > hi - lo);
// none for 0. Anchoring at k0 was measured: the depths next to it are the ones most
// tiles choose (docs/adaptive-tuning.md).
std::vector<int> anchor_depths(int lo, int hi, int k0, int count);

}  // namespace hrvq
