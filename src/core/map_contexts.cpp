#include "hrvq/map_contexts.hpp"

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

}  // namespace hrvq
