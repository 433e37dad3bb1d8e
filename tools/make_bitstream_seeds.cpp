// Writes the bitstream fuzzer's seed corpus: small valid .hrvq files covering every
// quantizer kind and coder, plus a progressive (truncated) one. Run once; the output is
// committed under testdata/fuzz/bitstream/.
//
//   c++ -std=c++17 -O2 -Iinclude -Itests/fuzz tools/make_bitstream_seeds.cpp \
//       src/core/crc32.cpp src/core/rans.cpp src/core/entropy_model.cpp src/core/bitstream.cpp \
//       src/core/map_contexts.cpp src/core/depth_map.cpp \
//       -lfmt -lzstd -lz -o /tmp/make_bitstream_seeds && /tmp/make_bitstream_seeds testdata/fuzz/bitstream
#include <cstdio>
#include <random>
#include <string>

#include "bitstream_fuzz_models.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/error.hpp"
#include "hrvq/map_contexts.hpp"

using namespace hrvq;

namespace {

std::vector<uint8_t> make(StreamQuantizer q, Coder coder, uint32_t w, uint32_t h, uint8_t channels, uint8_t d,
                          uint16_t m, uint8_t n, uint8_t k, uint64_t seed, uint8_t groups = 1, uint8_t tile = 0) {
  BitstreamHeader hd;
  hd.model_fingerprint = seed * 0x9e3779b97f4a7c15ull;
  hd.width = w;
  hd.height = h;
  hd.channels = channels;
  hd.downsample = d;
  hd.grid_w = expected_grid_side(w, d, q);
  hd.grid_h = expected_grid_side(h, d, q);
  hd.quantizer = q;
  hd.coder = coder;
  hd.codes = m;
  hd.layers = n;
  hd.layers_present = k;
  hd.groups = groups;
  hd.depth_tile = tile;
  std::mt19937_64 rng(seed);
  // Version 3: a depth map of random depths 1..k, one tile at k.
  DepthMap depth;
  std::vector<uint8_t> per_position;
  if (tile) {
    depth = make_depth_map(hd.grid_w, hd.grid_h, tile, 1);
    for (auto& v : depth.depth) v = static_cast<uint8_t>(1 + rng() % k);
    depth.depth[0] = k;
    per_position = position_depths(depth, hd.grid_w, hd.grid_h, k);
  }
  std::vector<std::vector<uint8_t>> segments;
  MapContexts chain(q == StreamQuantizer::Hr, groups);
  for (unsigned layer = 0; layer < k; ++layer) {
    const size_t positions = layer_positions(hd, layer);
    const uint32_t* ctx = chain.for_map(layer, positions);
    const auto model = fuzz::fuzz_layer_model(static_cast<uint32_t>(chain.contexts_of(layer, m)), m);
    std::vector<uint16_t> syms(positions);
    for (size_t p = 0; p < positions; ++p) {
      // Sample from the model so rANS seeds look like real streams.
      const QuantizedCdf& cdf = model.cdf(ctx[p]);
      const uint32_t slot = static_cast<uint32_t>(rng() % cdf.cdf.back());
      uint32_t s = 0;
      while (cdf.cdf[s + 1] <= slot) ++s;
      syms[p] = static_cast<uint16_t>(s);
    }
    // The fuzzer's map width: the grid's, where it divides the layer (not vq2's top).
    const size_t width = hd.grid_w && positions % hd.grid_w == 0 ? hd.grid_w : positions;
    if (tile) {
      const auto present = present_in_map(per_position, layer);
      segments.push_back(encode_index_map_masked(syms.data(), ctx, present.data(), positions, width, model, coder));
    } else {
      segments.push_back(encode_index_map_2d(syms.data(), ctx, positions, width, model, coder));
    }
    chain.advance(layer, syms, m);
  }
  return write_bitstream(hd, segments, depth);
}

void save(const std::string& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0)
    throw Error(path + ": cannot write");
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_bitstream_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    save(dir, "hr_rans.hrvq", make(StreamQuantizer::Hr, Coder::Rans, 32, 24, 3, 4, 8, 3, 3, 1));
    save(dir, "hr_raw.hrvq", make(StreamQuantizer::Hr, Coder::Raw, 17, 9, 3, 4, 8, 3, 3, 2));
    save(dir, "hr_zstd.hrvq", make(StreamQuantizer::Hr, Coder::Zstd, 28, 28, 1, 4, 8, 3, 3, 3));
    save(dir, "hr_rans_2of4.hrvq", make(StreamQuantizer::Hr, Coder::Rans, 16, 16, 1, 2, 4, 4, 2, 4));
    save(dir, "vq_rans.hrvq", make(StreamQuantizer::Vq, Coder::Rans, 32, 32, 3, 4, 512, 1, 1, 5));
    save(dir, "rvq_zstd.hrvq", make(StreamQuantizer::Rvq, Coder::Zstd, 20, 12, 3, 4, 300, 2, 2, 6));
    save(dir, "vq2_raw.hrvq", make(StreamQuantizer::Vq2, Coder::Raw, 24, 16, 3, 2, 16, 2, 2, 7));
    // Channel groups: 3 groups of 2-layer trees (6 maps, 4 written), and rvq in 2 groups.
    save(dir, "hr_groups_rans.hrvq", make(StreamQuantizer::Hr, Coder::Rans, 24, 20, 3, 4, 8, 6, 4, 9, 3));
    save(dir, "hr_groups_ctx.hrvq", make(StreamQuantizer::Hr, Coder::RansCtx, 20, 16, 3, 4, 8, 8, 8, 10, 4));
    save(dir, "rvq_groups_raw.hrvq", make(StreamQuantizer::Rvq, Coder::Raw, 16, 16, 3, 4, 16, 4, 4, 11, 2));
    // Version 3, depth maps: every coder, groups, tiles cut by the grid, and a cut file.
    save(dir, "v3_hr_groups_ctx.hrvq", make(StreamQuantizer::Hr, Coder::RansCtx, 36, 28, 3, 4, 8, 8, 8, 12, 4, 2));
    save(dir, "v3_hr_rans.hrvq", make(StreamQuantizer::Hr, Coder::Rans, 40, 20, 3, 4, 8, 4, 4, 13, 1, 3));
    save(dir, "v3_rvq_raw.hrvq", make(StreamQuantizer::Rvq, Coder::Raw, 24, 24, 1, 4, 16, 3, 3, 14, 1, 1));
    save(dir, "v3_hr_zstd.hrvq", make(StreamQuantizer::Hr, Coder::Zstd, 28, 20, 3, 4, 8, 6, 5, 15, 2, 4));
    auto cut3 = make(StreamQuantizer::Hr, Coder::RansCtx, 32, 32, 3, 4, 8, 4, 4, 16, 2, 2);
    cut3.resize(cut3.size() - 3);
    save(dir, "v3_hr_ctx_truncated.hrvq", cut3);
    // A progressive file cut inside its last segment.
    auto cut = make(StreamQuantizer::Hr, Coder::Rans, 32, 32, 3, 4, 8, 3, 3, 8);
    cut.resize(cut.size() - 5);
    save(dir, "hr_rans_truncated.hrvq", cut);
  } catch (const Error& e) {
    std::fprintf(stderr, "make_bitstream_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
