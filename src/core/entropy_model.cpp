#include "hrvq/entropy_model.hpp"

#include <deque>
#include <unordered_map>

#include <zstd.h>

#include <algorithm>
#include <cmath>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

constexpr int kZstdLevel = 19;

size_t zstd_bytes_per_symbol(uint32_t m) { return m <= 256 ? 1 : 2; }

std::vector<uint8_t> pack_bytes(const uint16_t* symbols, size_t count, uint32_t m) {
  const size_t bps = zstd_bytes_per_symbol(m);
  std::vector<uint8_t> out(count * bps);
  for (size_t k = 0; k < count; ++k) {
    if (bps == 1) {
      out[k] = static_cast<uint8_t>(symbols[k]);
    } else {
      out[2 * k] = static_cast<uint8_t>(symbols[k] & 0xff);
      out[2 * k + 1] = static_cast<uint8_t>(symbols[k] >> 8);
    }
  }
  return out;
}

std::vector<uint8_t> encode_raw(const uint16_t* symbols, size_t count, uint32_t m) {
  const unsigned bits = raw_bits_per_symbol(m);
  std::vector<uint8_t> out(max_encoded_size(Coder::Raw, m, count), 0);
  size_t bitpos = 0;
  for (size_t k = 0; k < count; ++k) {
    for (unsigned b = bits; b-- > 0; ++bitpos)
      if ((symbols[k] >> b) & 1) out[bitpos >> 3] |= static_cast<uint8_t>(0x80u >> (bitpos & 7));
  }
  return out;
}

std::vector<uint16_t> decode_raw(const uint8_t* data, size_t size, size_t count, uint32_t m) {
  const unsigned bits = raw_bits_per_symbol(m);
  if (size != max_encoded_size(Coder::Raw, m, count))
    throw Error("raw index map has the wrong size");
  std::vector<uint16_t> out(count);
  size_t bitpos = 0;
  for (size_t k = 0; k < count; ++k) {
    uint32_t v = 0;
    for (unsigned b = 0; b < bits; ++b, ++bitpos) v = (v << 1) | ((data[bitpos >> 3] >> (7 - (bitpos & 7))) & 1);
    if (v >= m) throw Error("raw index map holds an index >= m");
    out[k] = static_cast<uint16_t>(v);
  }
  // Padding must be zero so that each map has exactly one encoding.
  for (; bitpos < size * 8; ++bitpos)
    if ((data[bitpos >> 3] >> (7 - (bitpos & 7))) & 1) throw Error("raw index map has non-zero padding bits");
  return out;
}

std::vector<uint8_t> encode_zstd(const uint16_t* symbols, size_t count, uint32_t m) {
  const std::vector<uint8_t> packed = pack_bytes(symbols, count, m);
  std::vector<uint8_t> out(ZSTD_compressBound(packed.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), packed.data(), packed.size(), kZstdLevel);
  if (ZSTD_isError(n)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::vector<uint16_t> decode_zstd(const uint8_t* data, size_t size, size_t count, uint32_t m) {
  const size_t bps = zstd_bytes_per_symbol(m);
  const size_t expected = count * bps;
  if (size < min_encoded_size(Coder::Zstd, m, count) || size > max_encoded_size(Coder::Zstd, m, count))
    throw Error("zstd index map has an impossible size");
  // One ordinary frame exactly filling the payload, declaring the size we expect:
  // anything else (skippable frames, concatenated frames, other sizes) is rejected
  // before zstd allocates or decodes.
  const uint32_t magic = uint32_t{data[0]} | uint32_t{data[1]} << 8 | uint32_t{data[2]} << 16 | uint32_t{data[3]} << 24;
  if (magic != ZSTD_MAGICNUMBER) throw Error("zstd index map is not a zstd frame");
  if (ZSTD_findFrameCompressedSize(data, size) != size) throw Error("zstd index map is not exactly one zstd frame");
  const unsigned long long content = ZSTD_getFrameContentSize(data, size);
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
    throw Error("zstd index map frame does not declare its size");
  if (content != expected) throw Error("zstd index map has the wrong decompressed size");

  std::vector<uint8_t> packed(expected);
  const size_t n = ZSTD_decompress(packed.data(), packed.size(), data, size);
  if (ZSTD_isError(n)) throw Error(std::string("zstd index map is corrupt: ") + ZSTD_getErrorName(n));
  if (n != expected) throw Error("zstd index map has the wrong decompressed size");

  std::vector<uint16_t> out(count);
  for (size_t k = 0; k < count; ++k) {
    const uint32_t v = bps == 1 ? packed[k] : uint32_t{packed[2 * k]} | uint32_t{packed[2 * k + 1]} << 8;
    if (v >= m) throw Error("zstd index map holds an index >= m");
    out[k] = static_cast<uint16_t>(v);
  }
  return out;
}

}  // namespace

Coder parse_coder(const std::string& text) {
  if (text == "raw") return Coder::Raw;
  if (text == "rans") return Coder::Rans;
  if (text == "zstd") return Coder::Zstd;
  if (text == "rans-ctx") return Coder::RansCtx;
  throw Error("unknown coder '" + text + "' (expected rans-ctx, rans, zstd or raw)");
}

const char* coder_name(Coder coder) {
  switch (coder) {
    case Coder::Raw: return "raw";
    case Coder::Rans: return "rans";
    case Coder::Zstd: return "zstd";
    case Coder::RansCtx: return "rans-ctx";
  }
  return "?";
}

bool is_valid_coder(uint8_t value) { return value <= static_cast<uint8_t>(Coder::RansCtx); }

unsigned raw_bits_per_symbol(uint32_t m) {
  unsigned bits = 0;
  while ((uint64_t{1} << bits) < m) ++bits;
  return bits;
}

size_t min_encoded_size(Coder coder, uint32_t m, size_t count) {
  switch (coder) {
    case Coder::Raw: return max_encoded_size(Coder::Raw, m, count);
    case Coder::Rans:
    case Coder::RansCtx: return 4;  // the final state
    case Coder::Zstd: return 8;  // magic, frame header descriptor, one block header
  }
  return 0;
}

size_t max_encoded_size(Coder coder, uint32_t m, size_t count) {
  switch (coder) {
    case Coder::Raw: return (count * raw_bits_per_symbol(m) + 7) / 8;
    // A symbol of frequency >= 1 out of 2^16 costs at most 16 bits, i.e. at most two
    // renormalization bytes; plus the 4-byte final state.
    case Coder::Rans:
    case Coder::RansCtx: return 2 * count + 4;
    case Coder::Zstd: return ZSTD_compressBound(count * zstd_bytes_per_symbol(m));
  }
  return 0;
}

LayerEntropyModel::LayerEntropyModel(std::vector<uint64_t> counts, uint32_t num_contexts, uint32_t m,
                                     unsigned precision_bits)
    : num_contexts_(num_contexts), m_(m), precision_bits_(precision_bits), counts_(std::move(counts)) {
  if (m < 1 || m > kMaxSymbols) throw Error("entropy model: codes per codebook must be 1.." + std::to_string(kMaxSymbols));
  if (num_contexts < 1) throw Error("entropy model: no contexts");
  if (counts_.size() != uint64_t{num_contexts} * m) throw Error("entropy model: counts table has the wrong size");
  if (precision_bits < 1 || precision_bits > 16 || m > (1u << precision_bits))
    throw Error("entropy model: precision too low for the alphabet");
  cdfs_.reserve(num_contexts);
  context_totals_.reserve(num_contexts);
  for (uint32_t c = 0; c < num_contexts; ++c) {
    const uint64_t* row = counts_.data() + size_t{c} * m;
    cdfs_.push_back(QuantizedCdf::from_counts(row, m, precision_bits));
    long double total = m;
    for (uint32_t s = 0; s < m; ++s) total += row[s];
    context_totals_.push_back(static_cast<double>(total));
  }
}

double LayerEntropyModel::probability(uint32_t context, uint32_t symbol) const {
  const QuantizedCdf& c = cdfs_.at(context);
  return std::ldexp(static_cast<double>(c.freq(symbol)), -static_cast<int>(precision_bits_));
}

double LayerEntropyModel::exact_probability(uint32_t context, uint32_t symbol) const {
  return (static_cast<double>(counts_.at(size_t{context} * m_ + symbol)) + 1.0) / context_totals_.at(context);
}

void LayerEntropyModel::check(const uint16_t* symbols, const uint32_t* contexts, size_t count) const {
  for (size_t k = 0; k < count; ++k) {
    if (symbols[k] >= m_) throw Error("index map holds an index >= m");
    if (contexts && contexts[k] >= num_contexts_) throw Error("index map context out of range");
  }
}

double LayerEntropyModel::cross_entropy_bits(const uint16_t* symbols, const uint32_t* contexts, size_t count) const {
  check(symbols, contexts, count);
  double bits = 0;
  for (size_t k = 0; k < count; ++k) bits -= std::log2(probability(contexts ? contexts[k] : 0, symbols[k]));
  return bits;
}

double LayerEntropyModel::exact_cross_entropy_bits(const uint16_t* symbols, const uint32_t* contexts,
                                                   size_t count) const {
  check(symbols, contexts, count);
  double bits = 0;
  for (size_t k = 0; k < count; ++k) bits -= std::log2(exact_probability(contexts ? contexts[k] : 0, symbols[k]));
  return bits;
}

namespace {

// The adaptive neighbour-context model of RansCtx. Encoder and decoder run the same
// sequence of lookups and updates, in raster order, so their tables agree exactly.
// Every context's counts and CDF live in two pools (no allocation per context), and a
// context is found by key in a flat table when the key space is small, else hashed.
class NeighbourContexts {
 public:
  NeighbourContexts(const LayerEntropyModel& base, size_t width, size_t count)
      : base_(base), m_(base.num_symbols()), width_(width) {
    if (m_ > kMaxCtxSymbols)
      throw Error("the rans-ctx coder supports at most " + std::to_string(kMaxCtxSymbols) + " codes per codebook");
    if (width_ == 0) throw Error("rans-ctx coding needs the map's width");
    // Flat when the key space is small next to the map (the common case: a few
    // parents' worth of (left, above) pairs) and bounded (16 MiB, whatever a file's
    // header claims).
    const uint64_t keys = uint64_t{base.num_contexts()} * (m_ + 1) * (m_ + 1);
    if (keys <= std::min<uint64_t>(uint64_t{1} << 22, std::max<uint64_t>(uint64_t{1} << 16, 8 * uint64_t{count})))
      flat_.assign(keys, kAbsent);
  }

  // The table for position k of `symbols` (whose earlier entries are already known).
  // A neighbour outside the map, or absent from it (present[] == 0), reads as m.
  CdfView table(size_t k, const uint16_t* symbols, uint32_t base_context, const uint8_t* present = nullptr) {
    const uint64_t left = k % width_ && (!present || present[k - 1]) ? symbols[k - 1] : m_;
    const uint64_t above = k >= width_ && (!present || present[k - width_]) ? symbols[k - width_] : m_;
    const uint64_t key = (uint64_t{base_context} * (m_ + 1) + left) * (m_ + 1) + above;
    uint32_t entry;
    if (!flat_.empty()) {
      uint32_t& f = flat_[key];
      if (f == kAbsent) f = add_entry(base_context);
      entry = f;
    } else {
      auto it = index_.find(key);
      entry = it != index_.end() ? it->second : index_.emplace(key, add_entry(base_context)).first->second;
    }
    current_ = entry;
    return {&cdfs_[size_t(entry) * (m_ + 1)], m_, kEntropyPrecisionBits};
  }

  // Counts the symbol just coded with the table last returned.
  void update(uint32_t symbol) {
    uint64_t* c = &counts_[size_t(current_) * m_];
    c[symbol] += kCtxIncrement;
    uint64_t sum = 0;
    for (uint32_t s = 0; s < m_; ++s) sum += c[s];
    if (sum > kCtxLimit)
      for (uint32_t s = 0; s < m_; ++s) c[s] = (c[s] + 1) / 2;
    quantize_counts(c, m_, kEntropyPrecisionBits, &cdfs_[size_t(current_) * (m_ + 1)]);
  }

 private:
  // A fresh context starts from its base table's counts n_s, scaled to a prior weight:
  // 1 + floor(kCtxPriorWeight * n_s / N).
  uint32_t add_entry(uint32_t base_context) {
    const uint32_t entry = static_cast<uint32_t>(counts_.size() / m_);
    const uint64_t* n = &base_.counts()[size_t(base_context) * m_];
    uint64_t total = 0;
    bool narrow = true;  // kCtxPriorWeight * n_s fits in 64 bits
    for (uint32_t s = 0; s < m_; ++s) {
      total += n[s];
      narrow &= n[s] < (uint64_t{1} << 58);
    }
    for (uint32_t s = 0; s < m_; ++s) {
      const uint64_t scaled = !total ? 0
                              : narrow ? n[s] * kCtxPriorWeight / total
                                       : static_cast<uint64_t>((static_cast<unsigned __int128>(n[s]) * kCtxPriorWeight) / total);
      counts_.push_back(1 + scaled);
    }
    cdfs_.resize(cdfs_.size() + m_ + 1);
    quantize_counts(&counts_[size_t(entry) * m_], m_, kEntropyPrecisionBits, &cdfs_[size_t(entry) * (m_ + 1)]);
    return entry;
  }

  static constexpr uint32_t kAbsent = UINT32_MAX;
  const LayerEntropyModel& base_;
  uint32_t m_;
  size_t width_;
  std::vector<uint32_t> flat_;                    // key -> entry, when the key space is small
  std::unordered_map<uint64_t, uint32_t> index_;  // otherwise
  std::vector<uint64_t> counts_;                  // m per entry
  std::vector<uint32_t> cdfs_;                    // m + 1 per entry
  uint32_t current_ = 0;
};

// rans-ctx over the positions with present[k] != 0 (every position when present is
// null), in raster order: the one loop behind the full and the masked coders.
std::vector<uint8_t> encode_rans_ctx(const uint16_t* symbols, const uint32_t* contexts, const uint8_t* present,
                                     size_t count, size_t width, const LayerEntropyModel& model) {
  NeighbourContexts tables(model, width, count);
  RansEncoder enc;
  for (size_t k = 0; k < count; ++k) {
    if (present && !present[k]) continue;
    if (symbols[k] >= model.num_symbols()) throw Error("index map holds an index >= m");
    if (contexts[k] >= model.num_contexts()) throw Error("index map context out of range");
    enc.put(symbols[k], tables.table(k, symbols, contexts[k], present));
    tables.update(symbols[k]);
  }
  return enc.finish();
}

// The inverse; an absent position decodes as 0. A few bytes can legitimately expand to
// many symbols, so the payload size does not bound `count`; growing as we go keeps
// garbage that fails early cheap.
std::vector<uint16_t> decode_rans_ctx(const uint8_t* data, size_t size, const uint32_t* contexts,
                                      const uint8_t* present, size_t count, size_t width,
                                      const LayerEntropyModel& model) {
  NeighbourContexts tables(model, width, count);
  RansDecoder dec(data, size);
  std::vector<uint16_t> out;
  out.reserve(std::min<size_t>(count, size_t{1} << 20));
  for (size_t k = 0; k < count; ++k) {
    out.push_back(0);  // the slot table() may read as "left" is never k itself
    if (present && !present[k]) continue;
    if (contexts[k] >= model.num_contexts()) throw Error("index map context out of range");
    out[k] = static_cast<uint16_t>(dec.get(tables.table(k, out.data(), contexts[k], present)));
    tables.update(out[k]);
  }
  dec.finish();
  return out;
}

}  // namespace

std::vector<uint8_t> encode_index_map(const uint16_t* symbols, const uint32_t* contexts, size_t count,
                                      const LayerEntropyModel& model, Coder coder) {
  return encode_index_map_2d(symbols, contexts, count, count ? count : 1, model, coder);
}

std::vector<uint16_t> decode_index_map(const uint8_t* data, size_t size, const uint32_t* contexts, size_t count,
                                       const LayerEntropyModel& model, Coder coder) {
  return decode_index_map_2d(data, size, contexts, count, count ? count : 1, model, coder);
}

std::vector<uint8_t> encode_index_map_2d(const uint16_t* symbols, const uint32_t* contexts, size_t count,
                                         size_t width, const LayerEntropyModel& model, Coder coder) {
  const uint32_t m = model.num_symbols();
  if (m == 0) throw Error("entropy model is empty");
  const bool rans = coder == Coder::Rans || coder == Coder::RansCtx;
  if (rans && count > 0 && !contexts) throw Error("rANS coding needs a context per position");
  for (size_t k = 0; k < count; ++k)
    if (symbols[k] >= m) throw Error("index map holds an index >= m");
  switch (coder) {
    case Coder::Raw: return encode_raw(symbols, count, m);
    case Coder::Zstd: return encode_zstd(symbols, count, m);
    case Coder::Rans: {
      RansEncoder enc;
      for (size_t k = 0; k < count; ++k) {
        if (contexts[k] >= model.num_contexts()) throw Error("index map context out of range");
        enc.put(symbols[k], model.cdf(contexts[k]));
      }
      return enc.finish();
    }
    case Coder::RansCtx: return encode_rans_ctx(symbols, contexts, nullptr, count, width, model);
  }
  throw Error("unknown coder");
}

std::vector<uint16_t> decode_index_map_2d(const uint8_t* data, size_t size, const uint32_t* contexts, size_t count,
                                          size_t width, const LayerEntropyModel& model, Coder coder) {
  const uint32_t m = model.num_symbols();
  if (m == 0) throw Error("entropy model is empty");
  switch (coder) {
    case Coder::Raw: return decode_raw(data, size, count, m);
    case Coder::Zstd: return decode_zstd(data, size, count, m);
    case Coder::Rans:
    case Coder::RansCtx: {
      if (size > max_encoded_size(coder, m, count)) throw Error("rANS stream corrupt (too long)");
      if (count > 0 && !contexts) throw Error("rANS decoding needs a context per position");
      if (coder == Coder::RansCtx) return decode_rans_ctx(data, size, contexts, nullptr, count, width, model);
      RansDecoder dec(data, size);
      // As in decode_rans_ctx: grown as we go, not sized from `count`.
      std::vector<uint16_t> out;
      out.reserve(std::min<size_t>(count, size_t{1} << 20));
      for (size_t k = 0; k < count; ++k) {
        if (contexts[k] >= model.num_contexts()) throw Error("index map context out of range");
        out.push_back(static_cast<uint16_t>(dec.get(model.cdf(contexts[k]))));
      }
      dec.finish();
      return out;
    }
  }
  throw Error("unknown coder");
}

std::vector<uint8_t> encode_index_map_masked(const uint16_t* symbols, const uint32_t* contexts, const uint8_t* present,
                                             size_t count, size_t width, const LayerEntropyModel& model, Coder coder) {
  if (!present) return encode_index_map_2d(symbols, contexts, count, width, model, coder);
  if (coder != Coder::RansCtx) {
    // Position-independent coders: the present positions, packed in raster order.
    std::vector<uint16_t> packed;
    std::vector<uint32_t> packed_contexts;
    for (size_t k = 0; k < count; ++k) {
      if (!present[k]) continue;
      packed.push_back(symbols[k]);
      if (contexts) packed_contexts.push_back(contexts[k]);
    }
    return encode_index_map(packed.data(), contexts ? packed_contexts.data() : nullptr, packed.size(), model, coder);
  }
  if (model.num_symbols() == 0) throw Error("entropy model is empty");
  if (count > 0 && !contexts) throw Error("rANS coding needs a context per position");
  return encode_rans_ctx(symbols, contexts, present, count, width, model);
}

std::vector<uint16_t> decode_index_map_masked(const uint8_t* data, size_t size, const uint32_t* contexts,
                                              const uint8_t* present, size_t count, size_t width,
                                              const LayerEntropyModel& model, Coder coder) {
  if (!present) return decode_index_map_2d(data, size, contexts, count, width, model, coder);
  if (coder != Coder::RansCtx) {
    std::vector<uint16_t> out(count, 0);
    std::vector<uint32_t> packed_contexts;
    size_t n = 0;
    for (size_t k = 0; k < count; ++k) {
      if (!present[k]) continue;
      ++n;
      if (contexts) packed_contexts.push_back(contexts[k]);
    }
    auto packed = decode_index_map(data, size, contexts ? packed_contexts.data() : nullptr, n, model, coder);
    for (size_t k = 0, i = 0; k < count; ++k)
      if (present[k]) out[k] = packed[i++];
    return out;
  }
  const uint32_t m = model.num_symbols();
  if (m == 0) throw Error("entropy model is empty");
  size_t n = 0;
  for (size_t k = 0; k < count; ++k) n += present[k] != 0;
  if (size > max_encoded_size(coder, m, n)) throw Error("rANS stream corrupt (too long)");
  if (n > 0 && !contexts) throw Error("rANS decoding needs a context per position");
  return decode_rans_ctx(data, size, contexts, present, count, width, model);
}

void advance_hr_contexts(std::vector<uint32_t>& contexts, const std::vector<uint16_t>& local, uint32_t m) {
  if (contexts.size() != local.size()) throw Error("HR contexts: layer sizes differ");
  for (size_t k = 0; k < contexts.size(); ++k) {
    const uint64_t g = uint64_t{contexts[k]} * m + local[k];
    if (g > UINT32_MAX) throw Error("HR contexts: global index does not fit in 32 bits");
    contexts[k] = static_cast<uint32_t>(g);
  }
}

}  // namespace hrvq
