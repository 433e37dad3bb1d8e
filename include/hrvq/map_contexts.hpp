// The entropy coder's context of every position of each index map (format/bitstream.md,
// "Contexts and probabilities"): for hr, the global row the same group's previous layer
// picked there (so map j of G groups follows map j - G); for every other quantizer, 0.
// Shared by the codec, the fuzzers and the seed generator so that all chain alike.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "hrvq/entropy_model.hpp"

namespace hrvq {

class MapContexts {
 public:
  MapContexts(bool hierarchical, unsigned groups);
  // The contexts of map `map` (0-based, in stream order), `count` positions. Each
  // group's maps must be visited in order (map g, g + G, g + 2G, ...), each followed by
  // advance() once its symbols are known. Groups are independent chains: different
  // groups may be visited concurrently from different threads.
  const uint32_t* for_map(unsigned map, size_t count);
  void advance(unsigned map, const std::vector<uint16_t>& symbols, uint32_t m);
  // Contexts map `map`'s count table has: m^(map / G) for hr, else 1.
  uint64_t contexts_of(unsigned map, uint32_t m) const;

 private:
  bool hierarchical_;
  unsigned groups_;
  std::vector<std::vector<uint32_t>> per_group_;
};

// Runs fn(g) for each group g < groups on up to `threads` threads (0 or 1: in this
// thread, in order). Every call runs, even after one throws; the exception of the
// lowest failing group is then rethrown.
void for_each_group(unsigned groups, unsigned threads, const std::function<void(unsigned)>& fn);

// Every map's segment payload, in stream order: map j coded with models[j] and the
// contexts above, as `coder` says (widths[j] columns, for rans-ctx's neighbours). The
// file of the first k maps is the container header followed by the first k of these.
// `threads` > 1 codes the groups' chains concurrently; the bytes are the same.
// With `depth` (one entry per position, every map the same size), map j codes only the
// positions whose depth exceeds j (encode_index_map_masked).
std::vector<std::vector<uint8_t>> encode_index_maps(const std::vector<std::vector<uint16_t>>& maps,
                                                    const std::vector<uint32_t>& widths,
                                                    const std::vector<LayerEntropyModel>& models, bool hierarchical,
                                                    unsigned groups, uint32_t m, Coder coder,
                                                    unsigned threads = 1, const std::vector<uint8_t>* depth = nullptr);

// Whether each position holds map j under per-position depths: depth[q] > j.
std::vector<uint8_t> present_in_map(const std::vector<uint8_t>& depth, unsigned map);

}  // namespace hrvq
