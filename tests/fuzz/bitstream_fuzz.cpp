// Feeds arbitrary bytes to the .hrvq parser and every present segment to all four
// index-map decoders, with contexts chained per channel group as in HR decoding, and,
// for a version-3 file, only at the positions its depth map gives the map. Anything other than
// hrvq::Error (a crash, a sanitizer report, another exception) is a bug.
//
// Each input is tried twice: as given (exercising the container checks) and with its
// CRCs recomputed, since otherwise almost every mutation of a payload dies at the CRC
// and the coders behind it would never see damaged data.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "bitstream_fuzz_models.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/map_contexts.hpp"

namespace {

using namespace hrvq;

const LayerEntropyModel* model_for(uint32_t contexts, uint32_t m) {
  static std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<LayerEntropyModel>> cache;
  auto& slot = cache[{contexts, m}];
  if (!slot) slot = std::make_unique<LayerEntropyModel>(fuzz::fuzz_layer_model(contexts, m));
  return slot.get();
}

void decode_all(const ParsedBitstream& p) {
  const BitstreamHeader& h = p.header;
  MapContexts chain(h.quantizer == StreamQuantizer::Hr, h.groups);
  std::vector<uint8_t> depth;
  if (!p.depth.empty()) {
    if (size_t{h.grid_w} * h.grid_h > fuzz::kMaxPositions) return;
    depth = position_depths(p.depth, h.grid_w, h.grid_h, static_cast<unsigned>(p.segments.size()));
  }
  for (unsigned layer = 0; layer < p.segments.size(); ++layer) {
    const size_t positions = layer_positions(h, layer);
    if (positions > fuzz::kMaxPositions) return;
    const uint64_t num_contexts = chain.contexts_of(layer, h.codes);
    if (num_contexts * h.codes > fuzz::kMaxModelEntries) return;
    const LayerEntropyModel* model = model_for(static_cast<uint32_t>(num_contexts), h.codes);
    const uint32_t* contexts = chain.for_map(layer, positions);
    const std::vector<uint8_t>& seg = p.segments[layer];
    std::vector<uint16_t> chosen;
    bool ok = false;
    const size_t width = h.grid_w && positions % h.grid_w == 0 ? h.grid_w : positions;
    const std::vector<uint8_t> present = depth.empty() ? std::vector<uint8_t>() : present_in_map(depth, layer);
    if (!depth.empty() && present.size() != positions) __builtin_trap();
    for (Coder coder : {Coder::Raw, Coder::Rans, Coder::Zstd, Coder::RansCtx}) {
      try {
        auto out = depth.empty()
                       ? decode_index_map_2d(seg.data(), seg.size(), contexts, positions, width, *model, coder)
                       : decode_index_map_masked(seg.data(), seg.size(), contexts, present.data(), positions, width,
                                                 *model, coder);
        if (out.size() != positions) __builtin_trap();
        for (uint16_t s : out)
          if (s >= h.codes) __builtin_trap();
        if (coder == h.coder) {
          chosen = std::move(out);
          ok = true;
        }
      } catch (const Error&) {
      }
    }
    if (!ok) return;
    chain.advance(layer, chosen, h.codes);
  }
}

uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
void put32(uint8_t* p, uint32_t v) {
  for (int k = 0; k < 4; ++k) p[k] = static_cast<uint8_t>(v >> (8 * k));
}

// Rewrites the header CRC and the CRC of every complete segment. Returns false when
// nothing changed, so the second parse would only repeat the first.
bool repair_crcs(std::vector<uint8_t>& b) {
  if (b.size() < 8) return false;
  const size_t header = b[6] | b[7] << 8;
  if (header < 8 || header > b.size()) return false;
  bool changed = false;
  auto fix = [&](uint8_t* at, uint32_t crc) {
    if (get32(at) != crc) {
      put32(at, crc);
      changed = true;
    }
  };
  fix(b.data() + header - 4, crc32(b.data(), header - 4));
  size_t pos = header;
  while (b.size() - pos >= 8) {
    const uint32_t len = get32(b.data() + pos);
    if (b.size() - pos - 8 < len) break;
    fix(b.data() + pos + 4, crc32(b.data() + pos + 8, len, crc32(b.data() + pos, 4)));
    pos += 8 + size_t{len};
  }
  return changed;
}

void run(const uint8_t* data, size_t size) {
  try {
    const ParsedBitstream p = parse_bitstream(data, size, "fuzz");
    if (p.segments.empty() || p.segments.size() > p.header.layers_present) __builtin_trap();
    (void)describe_bitstream(p, size);
    decode_all(p);
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(data, size);
  std::vector<uint8_t> repaired(data, data + size);
  if (repair_crcs(repaired)) run(repaired.data(), repaired.size());
  return 0;
}
