#include "hrvq/map_contexts.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "hrvq/bitstream.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"

namespace hrvq {

MapContexts::MapContexts(bool hierarchical, unsigned groups)
    : hierarchical_(hierarchical), groups_(groups < 1 ? 1 : groups), per_group_(groups_) {}

const uint32_t* MapContexts::for_map(unsigned map, size_t count) {
  auto& ctx = per_group_[map % groups_];
  // A group's first layer, a flat quantizer, or a map of another size (vq2's levels)
  // starts from context 0 everywhere.
  if (!hierarchical_ || map < groups_ || ctx.size() != count) ctx.assign(count, 0);
  return ctx.data();
}

void MapContexts::advance(unsigned map, const std::vector<uint16_t>& symbols, uint32_t m) {
  if (!hierarchical_) return;
  auto& ctx = per_group_[map % groups_];
  if (ctx.size() != symbols.size()) throw Error("map contexts: symbol count differs from the map's positions");
  advance_hr_contexts(ctx, symbols, m);
}

uint64_t MapContexts::contexts_of(unsigned map, uint32_t m) const {
  return hierarchical_ ? hr_layer_contexts(m, map / groups_) : 1;
}

void for_each_group(unsigned groups, unsigned threads, const std::function<void(unsigned)>& fn) {
  std::vector<std::exception_ptr> failures(groups);
  auto run = [&](unsigned g) {
    try {
      fn(g);
    } catch (...) {
      failures[g] = std::current_exception();
    }
  };
  const unsigned workers = std::min(std::max(threads, 1u), groups);
  if (workers <= 1) {
    for (unsigned g = 0; g < groups; ++g) run(g);
  } else {
    std::atomic<unsigned> next{0};
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < workers; ++t)
      pool.emplace_back([&] {
        for (unsigned g; (g = next++) < groups;) run(g);
      });
    for (unsigned g; (g = next++) < groups;) run(g);
    for (auto& t : pool) t.join();
  }
  for (auto& f : failures)
    if (f) std::rethrow_exception(f);
}

std::vector<std::vector<uint8_t>> encode_index_maps(const std::vector<std::vector<uint16_t>>& maps,
                                                    const std::vector<uint32_t>& widths,
                                                    const std::vector<LayerEntropyModel>& models, bool hierarchical,
                                                    unsigned groups, uint32_t m, Coder coder, unsigned threads,
                                                    const std::vector<uint8_t>* depth) {
  if (widths.size() < maps.size() || models.size() < maps.size())
    throw Error("encode_index_maps: a width and a model are needed for every map");
  const bool contextual = coder == Coder::Rans || coder == Coder::RansCtx;
  if (groups < 1) groups = 1;
  MapContexts contexts(hierarchical, groups);
  std::vector<std::vector<uint8_t>> segments(maps.size());
  const unsigned n = static_cast<unsigned>(maps.size());
  for_each_group(std::min(groups, n), threads, [&](unsigned g) {
    for (unsigned j = g; j < n; j += groups) {
      const auto& symbols = maps[j];
      const uint32_t* ctx = contextual ? contexts.for_map(j, symbols.size()) : nullptr;
      if (depth) {
        if (depth->size() != symbols.size()) throw Error("encode_index_maps: depth map and index map differ in size");
        const auto present = present_in_map(*depth, j);
        segments[j] = encode_index_map_masked(symbols.data(), ctx, present.data(), symbols.size(), widths[j], models[j],
                                              coder);
      } else {
        segments[j] = encode_index_map_2d(symbols.data(), ctx, symbols.size(), widths[j], models[j], coder);
      }
      if (contextual) contexts.advance(j, symbols, m);
    }
  });
  return segments;
}

std::vector<uint8_t> present_in_map(const std::vector<uint8_t>& depth, unsigned map) {
  std::vector<uint8_t> present(depth.size());
  for (size_t q = 0; q < depth.size(); ++q) present[q] = depth[q] > map;
  return present;
}

}  // namespace hrvq
