// The entropy coder: a 32-bit-state, byte-renormalizing range ANS (rANS). It only turns
// symbols and quantized CDFs into bytes and back; where the probabilities come from is
// entropy_model.hpp's business. The byte format is specified in format/bitstream.md
// ("rANS payload") together with QuantizedCdf::from_counts, because a decoder must
// rebuild exactly the encoder's tables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hrvq {

// A quantized CDF in someone else's storage: cdf[0..m], as QuantizedCdf::cdf.
struct CdfView {
  const uint32_t* cdf;
  uint32_t m;
  unsigned precision_bits;
};

// QuantizedCdf::from_counts's rule written into cdf[0..m] (m + 1 entries). Throws
// hrvq::Error for a precision outside 1..16 or m outside 1..2^precision.
void quantize_counts(const uint64_t* counts, size_t m, unsigned precision_bits, uint32_t* cdf);

// Cumulative frequencies of m symbols summing to 2^precision_bits. Symbol s occupies
// [cdf[s], cdf[s+1]) and every symbol has frequency >= 1, so every symbol is codable.
struct QuantizedCdf {
  unsigned precision_bits = 16;  // 1..16
  std::vector<uint32_t> cdf;     // m + 1 entries, cdf[0] = 0, cdf[m] = 1 << precision_bits

  size_t num_symbols() const { return cdf.empty() ? 0 : cdf.size() - 1; }
  uint32_t freq(uint32_t symbol) const { return cdf[symbol + 1] - cdf[symbol]; }
  CdfView view() const { return {cdf.data(), static_cast<uint32_t>(num_symbols()), precision_bits}; }

  // Throws hrvq::Error unless the invariants above hold.
  void validate() const;

  // Deterministic, integer-only quantization of symbol counts (add-one smoothed), so
  // that encoder and decoder derive identical tables on any machine. Needs
  // 1 <= m <= 2^precision_bits. The exact rule is in format/bitstream.md.
  static QuantizedCdf from_counts(const uint64_t* counts, size_t m, unsigned precision_bits = 16);
};

// Collects symbols in coding order; finish() encodes them (rANS works last-in-first-out,
// so it runs backwards over the buffer) and returns the payload.
class RansEncoder {
 public:
  // The caller keeps symbol < cdf.num_symbols(); violating it throws hrvq::Error.
  void put(uint32_t symbol, const QuantizedCdf& cdf) { put(symbol, cdf.view()); }
  void put(uint32_t symbol, const CdfView& cdf);
  std::vector<uint8_t> finish();
  size_t pending() const { return symbols_.size(); }

 private:
  struct Slot {
    uint32_t start;
    uint32_t freq;
    uint32_t precision_bits;
  };
  std::vector<Slot> symbols_;
};

// Reads a payload made by RansEncoder. Never reads outside [data, data + size): running
// out of bytes throws hrvq::Error("rANS stream truncated"), an impossible state throws
// "rANS stream corrupt". The bytes are not copied and must outlive the decoder.
class RansDecoder {
 public:
  RansDecoder(const uint8_t* data, size_t size);
  uint32_t get(const QuantizedCdf& cdf) { return get(cdf.view()); }
  uint32_t get(const CdfView& cdf);
  // Throws unless every byte was consumed and the state is back at its initial value,
  // which is how a damaged payload that happened to decode is caught.
  void finish() const;

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint32_t state_ = 0;
};

}  // namespace hrvq
