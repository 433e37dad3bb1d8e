#include "hrvq/rans.hpp"

#include <algorithm>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

// The state lives in [kRansL, kRansL << 8) between symbols; bytes move one at a time.
constexpr uint32_t kRansL = 1u << 23;

using u128 = unsigned __int128;

}  // namespace

void QuantizedCdf::validate() const {
  if (precision_bits < 1 || precision_bits > 16) throw Error("quantized CDF: precision must be 1..16 bits");
  if (cdf.size() < 2) throw Error("quantized CDF: no symbols");
  if (cdf.front() != 0 || cdf.back() != (1u << precision_bits)) throw Error("quantized CDF: bad end points");
  for (size_t i = 1; i < cdf.size(); ++i)
    if (cdf[i] <= cdf[i - 1]) throw Error("quantized CDF: a symbol has zero frequency");
}

QuantizedCdf QuantizedCdf::from_counts(const uint64_t* counts, size_t m, unsigned precision_bits) {
  QuantizedCdf out;
  out.precision_bits = precision_bits;
  out.cdf.resize(m + 1);
  quantize_counts(counts, m, precision_bits, out.cdf.data());
  return out;
}

void quantize_counts(const uint64_t* counts, size_t m, unsigned bits, uint32_t* cdf) {
  if (bits < 1 || bits > 16) throw Error("quantized CDF: precision must be 1..16 bits");
  const uint64_t total = uint64_t{1} << bits;
  if (m < 1 || m > total) throw Error("quantized CDF: symbol count must be 1..2^precision");

  // 128-bit arithmetic keeps the rule exact for any uint64 counts: the sum of up to
  // 2^16 smoothed counts and its product with 2^16 both fit. Adaptive tables (rans-ctx)
  // are rebuilt after every symbol with small counts, where 64 bits give the same
  // quotients far faster: (total - m) * (count + 1) < 2^16 * 2^47 fits.
  u128 smoothed_total = 0;
  size_t largest = 0;
  bool narrow = true;
  for (size_t s = 0; s < m; ++s) {
    smoothed_total += u128{counts[s]} + 1;
    narrow &= counts[s] < (uint64_t{1} << 46);
    if (counts[s] > counts[largest]) largest = s;
  }
  narrow &= smoothed_total < (u128{1} << 47);
  // cdf[s + 1] holds symbol s's frequency until the prefix sum below.
  uint64_t assigned = 0;
  if (narrow) {
    const uint64_t t = static_cast<uint64_t>(smoothed_total);
    for (size_t s = 0; s < m; ++s) {
      cdf[s + 1] = 1 + static_cast<uint32_t>((total - m) * (counts[s] + 1) / t);
      assigned += cdf[s + 1];
    }
  } else {
    for (size_t s = 0; s < m; ++s) {
      cdf[s + 1] = 1 + static_cast<uint32_t>(u128{total - m} * (u128{counts[s]} + 1) / smoothed_total);
      assigned += cdf[s + 1];
    }
  }
  // Flooring leaves fewer than m slots over; the most probable symbol absorbs them,
  // which distorts its probability least.
  cdf[largest + 1] += static_cast<uint32_t>(total - assigned);
  cdf[0] = 0;
  for (size_t s = 0; s < m; ++s) cdf[s + 1] += cdf[s];
}

void RansEncoder::put(uint32_t symbol, const CdfView& cdf) {
  if (symbol >= cdf.m) throw Error("rANS encoder: symbol out of range");
  symbols_.push_back({cdf.cdf[symbol], cdf.cdf[symbol + 1] - cdf.cdf[symbol], cdf.precision_bits});
}

std::vector<uint8_t> RansEncoder::finish() {
  std::vector<uint8_t> emitted;
  emitted.reserve(symbols_.size() + 16);
  uint32_t x = kRansL;
  for (size_t i = symbols_.size(); i-- > 0;) {
    const Slot& s = symbols_[i];
    const uint32_t x_max = ((kRansL >> s.precision_bits) << 8) * s.freq;
    while (x >= x_max) {
      emitted.push_back(static_cast<uint8_t>(x & 0xff));
      x >>= 8;
    }
    x = ((x / s.freq) << s.precision_bits) + (x % s.freq) + s.start;
  }
  symbols_.clear();

  // The decoder starts from the final state and then needs the renormalization bytes
  // in the opposite order to how they were produced.
  std::vector<uint8_t> out;
  out.reserve(emitted.size() + 4);
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(x >> (8 * k)));
  out.insert(out.end(), emitted.rbegin(), emitted.rend());
  return out;
}

RansDecoder::RansDecoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
  if (size < 4) throw Error("rANS stream truncated");
  state_ = uint32_t{data[0]} | uint32_t{data[1]} << 8 | uint32_t{data[2]} << 16 | uint32_t{data[3]} << 24;
  pos_ = 4;
  if (state_ < kRansL || state_ >= (kRansL << 8)) throw Error("rANS stream corrupt");
}

uint32_t RansDecoder::get(const CdfView& cdf) {
  const uint32_t bits = cdf.precision_bits;
  const uint32_t slot = state_ & ((1u << bits) - 1);
  // cdf[0] = 0 <= slot < cdf[m], so the symbol always exists.
  const uint32_t* it = std::upper_bound(cdf.cdf, cdf.cdf + cdf.m + 1, slot);
  const uint32_t symbol = static_cast<uint32_t>(it - cdf.cdf) - 1;
  const uint32_t start = cdf.cdf[symbol];
  const uint32_t freq = cdf.cdf[symbol + 1] - start;
  // With state < 2^31 and freq <= 2^bits the product stays below 2^31: no overflow,
  // whatever bytes the stream holds.
  state_ = freq * (state_ >> bits) + slot - start;
  while (state_ < kRansL) {
    if (pos_ >= size_) throw Error("rANS stream truncated");
    state_ = (state_ << 8) | data_[pos_++];
  }
  return symbol;
}

void RansDecoder::finish() const {
  if (pos_ != size_) throw Error("rANS stream corrupt (bytes left over)");
  if (state_ != kRansL) throw Error("rANS stream corrupt (bad final state)");
}

}  // namespace hrvq
