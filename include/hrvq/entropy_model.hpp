// The probability model of the code maps and the coding of one layer's index map.
//
// Every position of a layer is coded with the distribution of its context. The caller
// supplies the context of each position: for HR-VQVAE the parent's global index
// (known from the layers already decoded), for a flat VQ or residual VQ whatever
// assignment it uses (often a single context 0). Probabilities come from per-context
// symbol counts gathered on training data; the coder (rans.hpp) only sees the
// quantized tables built from them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hrvq/rans.hpp"

namespace hrvq {

// How an index map is turned into bytes. The values are the bitstream's coder field.
//   Rans:    each position coded with its context's static table (the model's counts).
//   RansCtx: rANS whose context is (the caller's context, left neighbour's code, code
//            above); each such context starts from the caller's context's table and
//            adapts to the image as it is coded, with integer-only updates that the
//            decoder repeats exactly. Needs the map's width; m <= kMaxCtxSymbols.
enum class Coder : uint8_t { Raw = 0, Rans = 1, Zstd = 2, RansCtx = 3 };
Coder parse_coder(const std::string& text);  // "raw|rans|zstd|rans-ctx"
const char* coder_name(Coder coder);
bool is_valid_coder(uint8_t value);

// Precision of every rANS table hrvq writes (format v1 fixes it).
constexpr unsigned kEntropyPrecisionBits = 16;
// Largest symbol alphabet (m, or K of a flat VQ) the index-map coders accept.
constexpr uint32_t kMaxSymbols = 4096;
// Largest alphabet of the adaptive neighbour-context coder: its tables are rebuilt after
// every symbol, O(m) each.
constexpr uint32_t kMaxCtxSymbols = 256;
// The adaptive model's constants (format/bitstream.md, "rans-ctx"): a new context's
// counts are 1 + floor(kCtxPriorWeight * n_s / N) from its base table's counts n_s
// (N = their sum); each coded symbol adds kCtxIncrement; when the sum exceeds
// kCtxLimit every count c becomes (c + 1) / 2.
constexpr uint32_t kCtxPriorWeight = 32;
constexpr uint32_t kCtxIncrement = 16;
constexpr uint32_t kCtxLimit = 4096;

// Bits per index in the raw coder: ceil(log2 m), 0 for m = 1.
unsigned raw_bits_per_symbol(uint32_t m);
// Bounds on the size of an encoded index map of `count` symbols, so that readers can
// reject a length before allocating. Raw has one exact size (min == max).
size_t min_encoded_size(Coder coder, uint32_t m, size_t count);
size_t max_encoded_size(Coder coder, uint32_t m, size_t count);

class LayerEntropyModel {
 public:
  LayerEntropyModel() = default;
  // counts: num_contexts × m, row-major (counts[c * m + s]). Throws hrvq::Error on
  // an impossible shape (m outside 1..kMaxSymbols, no contexts, wrong size).
  LayerEntropyModel(std::vector<uint64_t> counts, uint32_t num_contexts, uint32_t m,
                    unsigned precision_bits = kEntropyPrecisionBits);

  uint32_t num_contexts() const { return num_contexts_; }
  uint32_t num_symbols() const { return m_; }
  unsigned precision_bits() const { return precision_bits_; }
  const std::vector<uint64_t>& counts() const { return counts_; }
  const QuantizedCdf& cdf(uint32_t context) const { return cdfs_.at(context); }

  // Probability of `symbol` in `context` under the quantized table the coder uses, and
  // under the add-one smoothed counts it was built from: (count + 1) / (total + m).
  double probability(uint32_t context, uint32_t symbol) const;
  double exact_probability(uint32_t context, uint32_t symbol) const;

  // Σ -log2 p over the positions: the ideal code length in bits. rANS lands within a
  // few bytes of the quantized version.
  double cross_entropy_bits(const uint16_t* symbols, const uint32_t* contexts, size_t count) const;
  double exact_cross_entropy_bits(const uint16_t* symbols, const uint32_t* contexts, size_t count) const;

 private:
  void check(const uint16_t* symbols, const uint32_t* contexts, size_t count) const;

  uint32_t num_contexts_ = 0;
  uint32_t m_ = 0;
  unsigned precision_bits_ = kEntropyPrecisionBits;
  std::vector<uint64_t> counts_;
  std::vector<double> context_totals_;  // Σ counts + m per context, for exact_probability
  std::vector<QuantizedCdf> cdfs_;
};

// Encodes `count` symbols (each < model.num_symbols(), contexts[k] <
// model.num_contexts()); out-of-range input throws hrvq::Error. `contexts` is unused by
// the raw and zstd coders and may then be null.
std::vector<uint8_t> encode_index_map(const uint16_t* symbols, const uint32_t* contexts, size_t count,
                                      const LayerEntropyModel& model, Coder coder);

// The inverse. Any malformed payload (wrong size, bad zstd frame, rANS stream that
// runs out or does not end cleanly, symbol >= m) throws hrvq::Error; memory use is
// bounded by `count`.
std::vector<uint16_t> decode_index_map(const uint8_t* data, size_t size, const uint32_t* contexts, size_t count,
                                       const LayerEntropyModel& model, Coder coder);

// The same for a map of `width` columns (count / width rows), which every coder accepts
// and RansCtx needs (its neighbours are left and above). The functions above are these
// with width = count (one row).
std::vector<uint8_t> encode_index_map_2d(const uint16_t* symbols, const uint32_t* contexts, size_t count,
                                         size_t width, const LayerEntropyModel& model, Coder coder);
std::vector<uint16_t> decode_index_map_2d(const uint8_t* data, size_t size, const uint32_t* contexts, size_t count,
                                          size_t width, const LayerEntropyModel& model, Coder coder);

// The same for a map of which only some positions are coded: those with present[k] != 0
// (null: all), in raster order. Raw, zstd and rans code the present positions as one
// packed sequence; rans-ctx keeps the map's geometry and reads an absent neighbour as it
// reads one outside the map. This is what a spatially varying prefix length needs: a
// position absent from map j holds no code there (decoded as 0). Memory is bounded by
// `count`, as above.
std::vector<uint8_t> encode_index_map_masked(const uint16_t* symbols, const uint32_t* contexts, const uint8_t* present,
                                             size_t count, size_t width, const LayerEntropyModel& model, Coder coder);
std::vector<uint16_t> decode_index_map_masked(const uint8_t* data, size_t size, const uint32_t* contexts,
                                              const uint8_t* present, size_t count, size_t width,
                                              const LayerEntropyModel& model, Coder coder);

// HR bookkeeping: turns the contexts of layer i (parent global indices p_{i-1}) into
// those of layer i+1, p_i = p_{i-1} * m + local_i, in place. Throws if a global index
// would not fit in 32 bits.
void advance_hr_contexts(std::vector<uint32_t>& contexts, const std::vector<uint16_t>& local, uint32_t m);

}  // namespace hrvq
