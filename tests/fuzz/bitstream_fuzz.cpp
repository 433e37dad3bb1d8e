// Feeds arbitrary bytes to the .hrvq parser and every present segment to all three
// index-map decoders, with contexts chained as in HR decoding. Anything other than
// hrvq::Error (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "bitstream_fuzz_models.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/error.hpp"

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
  const bool hr = h.quantizer == StreamQuantizer::Hr;
  std::vector<uint32_t> contexts;
  for (unsigned layer = 0; layer < p.segments.size(); ++layer) {
    const size_t positions = layer_positions(h, layer);
    if (positions > fuzz::kMaxPositions) return;
    const uint64_t num_contexts = hr ? hr_layer_contexts(h.codes, layer) : 1;
    if (num_contexts * h.codes > fuzz::kMaxModelEntries) return;
    const LayerEntropyModel* model = model_for(static_cast<uint32_t>(num_contexts), h.codes);
    // vq2's layers differ in size; each starts from context 0 there.
    if (!hr || contexts.size() != positions) contexts.assign(positions, 0);
    const std::vector<uint8_t>& seg = p.segments[layer];
    std::vector<uint16_t> chosen;
    bool ok = false;
    for (Coder coder : {Coder::Raw, Coder::Rans, Coder::Zstd}) {
      try {
        auto out = decode_index_map(seg.data(), seg.size(), contexts.data(), positions, *model, coder);
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
    if (hr) advance_hr_contexts(contexts, chosen, h.codes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ParsedBitstream p = parse_bitstream(data, size, "fuzz");
    if (p.segments.empty() || p.segments.size() > p.header.layers_present) __builtin_trap();
    (void)describe_bitstream(p, size);
    decode_all(p);
  } catch (const Error&) {
  }
  return 0;
}
