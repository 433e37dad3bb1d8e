#include "hrvq/tile_rate.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "hrvq/error.hpp"
#include "hrvq/map_contexts.hpp"

namespace hrvq {

std::vector<uint8_t> choose_depths(const TileCosts& costs, double lambda) {
  const size_t C = costs.candidates();
  if (C == 0 || costs.sse.size() != costs.tiles * C || costs.bits.size() != costs.tiles * C)
    throw Error("choose_depths: cost tables do not match");
  std::vector<uint8_t> out(costs.tiles);
  for (size_t t = 0; t < costs.tiles; ++t) {
    size_t best = 0;
    double best_cost = costs.sse[t * C] + lambda * costs.bits[t * C];
    for (size_t c = 1; c < C; ++c) {
      const double cost = costs.sse[t * C + c] + lambda * costs.bits[t * C + c];
      if (cost < best_cost) best = c, best_cost = cost;
    }
    out[t] = static_cast<uint8_t>(costs.depths[best]);
  }
  return out;
}

namespace {

double choice_total(const char* what, const TileCosts& costs, const std::vector<double>& table,
                    const std::vector<uint8_t>& depths) {
  const size_t C = costs.candidates();
  double total = 0;
  for (size_t t = 0; t < costs.tiles; ++t) {
    const auto it = std::find(costs.depths.begin(), costs.depths.end(), depths.at(t));
    if (it == costs.depths.end()) throw Error(std::string(what) + ": a depth is not a candidate");
    total += table[t * C + static_cast<size_t>(it - costs.depths.begin())];
  }
  return total;
}

}  // namespace

double choice_sse(const TileCosts& costs, const std::vector<uint8_t>& depths) {
  return choice_total("choice_sse", costs, costs.sse, depths);
}

double choice_bits(const TileCosts& costs, const std::vector<uint8_t>& depths) {
  return choice_total("choice_bits", costs, costs.bits, depths);
}

std::vector<double> tile_sse(const Image& a, const Image& b, uint32_t tile_px, uint32_t tiles_x, uint32_t tiles_y) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels || tile_px == 0)
    throw Error("tile_sse: images differ in size");
  std::vector<double> out(size_t(tiles_x) * tiles_y, 0.0);
  const size_t C = static_cast<size_t>(a.channels);
  for (int y = 0; y < a.height; ++y) {
    const size_t ty = std::min<size_t>(size_t(y) / tile_px, tiles_y - 1);
    const uint8_t* pa = a.pixels.data() + size_t(y) * a.width * C;
    const uint8_t* pb = b.pixels.data() + size_t(y) * b.width * C;
    for (int x = 0; x < a.width; ++x) {
      const size_t tx = std::min<size_t>(size_t(x) / tile_px, tiles_x - 1);
      double s = 0;
      for (size_t c = 0; c < C; ++c) {
        const double e = double(pa[x * C + c]) - double(pb[x * C + c]);
        s += e * e;
      }
      out[ty * tiles_x + tx] += s;
    }
  }
  return out;
}

std::vector<std::vector<float>> position_bits(const std::vector<std::vector<uint16_t>>& maps,
                                              const std::vector<LayerEntropyModel>& models, bool hierarchical,
                                              unsigned groups, uint32_t m) {
  if (models.size() < maps.size()) throw Error("position_bits: a model is needed for every map");
  MapContexts contexts(hierarchical, groups);
  std::vector<std::vector<float>> out(maps.size());
  for (size_t j = 0; j < maps.size(); ++j) {
    const auto& s = maps[j];
    const uint32_t* ctx = contexts.for_map(static_cast<unsigned>(j), s.size());
    out[j].resize(s.size());
    for (size_t q = 0; q < s.size(); ++q)
      out[j][q] = static_cast<float>(-std::log2(models[j].probability(ctx[q], s[q])));
    contexts.advance(static_cast<unsigned>(j), s, m);
  }
  return out;
}

std::vector<double> tile_bits(const std::vector<std::vector<float>>& bits, uint32_t grid_w, uint32_t grid_h,
                              uint32_t tile, const std::vector<int>& depths) {
  const uint32_t tiles_x = (grid_w + tile - 1) / tile, tiles_y = (grid_h + tile - 1) / tile;
  const size_t T = size_t(tiles_x) * tiles_y, C = depths.size();
  const size_t maps = depths.empty() ? 0 : static_cast<size_t>(depths.back());
  if (maps > bits.size()) throw Error("tile_bits: a depth exceeds the maps given");
  // per_map[t * maps + j]: map j's bits in tile t; then prefix sums pick each depth.
  std::vector<double> per_map(T * maps, 0.0);
  for (size_t j = 0; j < maps; ++j) {
    if (bits[j].size() != size_t(grid_w) * grid_h) throw Error("tile_bits: a map is not the grid's size");
    for (uint32_t y = 0; y < grid_h; ++y)
      for (uint32_t x = 0; x < grid_w; ++x)
        per_map[(size_t(y / tile) * tiles_x + x / tile) * maps + j] += bits[j][size_t(y) * grid_w + x];
  }
  std::vector<double> out(T * C, 0.0);
  for (size_t t = 0; t < T; ++t) {
    double sum = 0;
    size_t j = 0;
    for (size_t c = 0; c < C; ++c) {
      for (; j < static_cast<size_t>(depths[c]); ++j) sum += per_map[t * maps + j];
      out[t * C + c] = sum;
    }
  }
  return out;
}

double smallest_lambda(double lo, double hi, int iterations, const std::function<bool(double)>& holds) {
  if (!(lo > 0) || !(hi > lo)) throw Error("smallest_lambda: need 0 < lo < hi");
  if (holds(lo)) return lo;
  double a = std::log(lo), b = std::log(hi);  // holds(exp(b)) is assumed, not probed
  for (int i = 0; i < iterations; ++i) {
    const double mid = 0.5 * (a + b);
    if (holds(std::exp(mid))) b = mid;
    else a = mid;
  }
  return std::exp(b);
}

}  // namespace hrvq
