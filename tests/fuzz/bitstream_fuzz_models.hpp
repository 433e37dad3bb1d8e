// The fixed entropy models the bitstream fuzzer decodes with, shared with the seed
// generator (tools/make_bitstream_seeds.cpp) so that rANS seeds decode all the way.
#pragma once
#include <cstdint>
#include <vector>

#include "hrvq/entropy_model.hpp"

namespace hrvq::fuzz {

// Bounds what one input can make the fuzzer allocate and decode.
constexpr uint64_t kMaxModelEntries = uint64_t{1} << 16;  // contexts × m
constexpr size_t kMaxPositions = size_t{1} << 16;

// Skewed counts, some zero, different per context: exercises tables with freq-1 slots.
inline LayerEntropyModel fuzz_layer_model(uint32_t contexts, uint32_t m) {
  std::vector<uint64_t> counts(uint64_t{contexts} * m);
  for (uint32_t c = 0; c < contexts; ++c)
    for (uint32_t s = 0; s < m; ++s) {
      const uint32_t k = (s * 7 + c * 13) % (m + 3);
      counts[uint64_t{c} * m + s] = k % 5 == 0 ? 0 : uint64_t{k} * k * (c % 3 + 1);
    }
  return LayerEntropyModel(std::move(counts), contexts, m);
}

}  // namespace hrvq::fuzz
