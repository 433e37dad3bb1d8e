// Bytes of index maps coded with a per-position prefix length, by the codec's own coders
// (encode_index_map_masked with the model's count tables and hr contexts, as the codec
// builds them). bench/adaptive_rate_study.py --coder-bin uses it to measure its
// per-tile prefixes with rans-ctx instead of estimating them from static costs.
//
//   masked_rate --model M.hrvqm FILE...
//
// FILE: u32 N (maps), u32 h, u32 w (the grid, the same for every map), N*h*w u16 local
// codes (map-major, raster order), h*w u8 k (position p holds maps j < k[p]), all
// little-endian. Prints one line per file: "FILE rans-ctx-bytes rans-bytes", payloads
// only (no container or segment headers).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../src/model_io.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/map_contexts.hpp"

namespace {

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  if (at + 4 > b.size()) throw hrvq::Error("truncated");
  return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4 || std::string(argv[1]) != "--model") throw hrvq::Error("usage: masked_rate --model M.hrvqm FILE...");
  auto model = hrvq::load_model(argv[2], torch::kCPU);
  const auto& c = model.config;
  if (model.counts.empty()) throw hrvq::Error(std::string(argv[2]) + ": no code counts");
  if (c.quantizer != hrvq::QuantizerKind::Hr && c.quantizer != hrvq::QuantizerKind::Rvq)
    throw hrvq::Error("hr and rvq models only");
  const uint32_t m = static_cast<uint32_t>(c.codes);
  const auto sizes = c.layer_table_sizes();
  std::vector<hrvq::LayerEntropyModel> entropy;
  for (int l = 0; l < c.num_layers(); ++l)
    entropy.emplace_back(model.counts[l], static_cast<uint32_t>(sizes[l] / m), m);
  for (int f = 3; f < argc; ++f) {
    const auto bytes = hrvq::read_file(argv[f]);
    const uint32_t N = u32_at(bytes, 0), h = u32_at(bytes, 4), w = u32_at(bytes, 8);
    const size_t P = size_t(h) * w;
    if (N != static_cast<uint32_t>(c.num_layers()) || bytes.size() != 12 + N * P * 2 + P)
      throw hrvq::Error(std::string(argv[f]) + ": does not fit the model or its own sizes");
    std::vector<std::vector<uint16_t>> maps(N, std::vector<uint16_t>(P));
    for (uint32_t j = 0; j < N; ++j) std::memcpy(maps[j].data(), bytes.data() + 12 + j * P * 2, P * 2);
    const uint8_t* k = bytes.data() + 12 + N * P * 2;
    size_t total[2] = {0, 0};
    const hrvq::Coder coders[2] = {hrvq::Coder::RansCtx, hrvq::Coder::Rans};
    for (int which = 0; which < 2; ++which) {
      hrvq::MapContexts contexts(c.quantizer == hrvq::QuantizerKind::Hr, static_cast<unsigned>(c.groups));
      for (uint32_t j = 0; j < N; ++j) {
        std::vector<uint8_t> present(P);
        size_t any = 0;
        for (size_t p = 0; p < P; ++p) any += present[p] = k[p] > j;
        const uint32_t* ctx = contexts.for_map(j, P);
        if (any)
          total[which] +=
              hrvq::encode_index_map_masked(maps[j].data(), ctx, present.data(), P, w, entropy[j], coders[which]).size();
        contexts.advance(j, maps[j], m);
      }
    }
    std::printf("%s %zu %zu\n", argv[f], total[0], total[1]);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "masked_rate: %s\n", e.what());
  return 1;
}
