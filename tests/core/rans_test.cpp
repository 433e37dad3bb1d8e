#include "hrvq/rans.hpp"

#include <gtest/gtest.h>

#include <random>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

QuantizedCdf random_cdf(std::mt19937_64& rng, size_t m, unsigned bits) {
  std::vector<uint64_t> counts(m);
  for (auto& c : counts) c = rng() % 4 == 0 ? 0 : rng() % 1000;
  return QuantizedCdf::from_counts(counts.data(), m, bits);
}

TEST(QuantizedCdf, PinnedExample) {
  // Spelled out in format/bitstream.md; a second implementation must match it.
  const uint64_t counts[] = {0, 1, 2, 97};
  const QuantizedCdf q = QuantizedCdf::from_counts(counts, 4, 8);
  EXPECT_EQ(q.cdf, (std::vector<uint32_t>{0, 3, 8, 16, 256}));
}

TEST(Rans, PinnedExample) {
  // The test vector of format/bitstream.md.
  const uint64_t counts[] = {0, 1, 2, 97};
  const QuantizedCdf q = QuantizedCdf::from_counts(counts, 4, 8);
  const std::vector<uint32_t> syms{3, 0, 2, 3, 1, 0};
  RansEncoder enc;
  for (uint32_t s : syms) enc.put(s, q);
  const auto bytes = enc.finish();
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0x41, 0x03, 0x90, 0x67, 0xb5, 0x02}));
  RansDecoder dec(bytes.data(), bytes.size());
  for (uint32_t s : syms) EXPECT_EQ(dec.get(q), s);
  EXPECT_NO_THROW(dec.finish());
}

TEST(QuantizedCdf, EverySymbolCodable) {
  std::mt19937_64 rng(1);
  for (size_t m : {1, 2, 3, 17, 256, 4096, 65536}) {
    std::vector<uint64_t> counts(m, 0);
    counts[m / 2] = ~uint64_t{0};  // extreme skew must neither overflow nor starve others
    const QuantizedCdf q = QuantizedCdf::from_counts(counts.data(), m, 16);
    ASSERT_NO_THROW(q.validate());
    ASSERT_EQ(q.num_symbols(), m);
    for (auto& c : counts) c = rng();
    ASSERT_NO_THROW(QuantizedCdf::from_counts(counts.data(), m, 16).validate());
  }
  const std::vector<uint64_t> too_many(257, 1);
  EXPECT_THROW(QuantizedCdf::from_counts(too_many.data(), 257, 8), Error);
  EXPECT_THROW(QuantizedCdf::from_counts(too_many.data(), 0, 8), Error);
  EXPECT_THROW(QuantizedCdf::from_counts(too_many.data(), 2, 17), Error);
}

// The rule of format/bitstream.md spelled out in 128-bit arithmetic, as a second
// implementation would write it.
std::vector<uint32_t> reference_cdf(const std::vector<uint64_t>& counts, unsigned bits) {
  using u128 = unsigned __int128;
  const size_t m = counts.size();
  const u128 total = u128{1} << bits;
  u128 smoothed = 0;
  size_t largest = 0;
  for (size_t s = 0; s < m; ++s) {
    smoothed += u128{counts[s]} + 1;
    if (counts[s] > counts[largest]) largest = s;
  }
  std::vector<uint32_t> freq(m);
  u128 assigned = 0;
  for (size_t s = 0; s < m; ++s) assigned += freq[s] = 1 + uint32_t((total - m) * (u128{counts[s]} + 1) / smoothed);
  freq[largest] += uint32_t(total - assigned);
  std::vector<uint32_t> cdf{0};
  for (uint32_t f : freq) cdf.push_back(cdf.back() + f);
  return cdf;
}

TEST(QuantizedCdf, FastPathIsTheExactRule) {
  // Small counts (rans-ctx's adaptive tables), counts near the quotients' integer
  // boundaries, and large ones up to the 64-bit path's limit.
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 20000; ++trial) {
    const size_t m = size_t{1} << (rng() % 9);
    std::vector<uint64_t> counts(m);
    const int kind = trial % 3;
    for (auto& c : counts)
      c = kind == 0 ? rng() % 64 : kind == 1 ? (rng() % 4) * (uint64_t{1} << (rng() % 30)) : rng() % (uint64_t{1} << 38);
    ASSERT_EQ(QuantizedCdf::from_counts(counts.data(), m, 16).cdf, reference_cdf(counts, 16)) << trial;
  }
}

TEST(QuantizedCdf, ZeroCountsAreUniform) {
  const std::vector<uint64_t> counts(8, 0);
  const QuantizedCdf q = QuantizedCdf::from_counts(counts.data(), 8, 16);
  for (uint32_t s = 0; s < 8; ++s) EXPECT_EQ(q.freq(s), 8192u);
}

TEST(Rans, RoundTripMixedTables) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<QuantizedCdf> tables;
    for (int t = 0; t < 4; ++t) {
      const unsigned bits = 1 + rng() % 16;
      tables.push_back(random_cdf(rng, 1 + rng() % std::min<uint64_t>(1u << bits, 300), bits));
    }
    const size_t n = rng() % 3000;
    std::vector<std::pair<uint32_t, int>> seq;
    RansEncoder enc;
    for (size_t k = 0; k < n; ++k) {
      const int t = static_cast<int>(rng() % tables.size());
      const uint32_t s = static_cast<uint32_t>(rng() % tables[t].num_symbols());
      seq.emplace_back(s, t);
      enc.put(s, tables[t]);
    }
    const std::vector<uint8_t> bytes = enc.finish();
    RansDecoder dec(bytes.data(), bytes.size());
    for (const auto& [s, t] : seq) ASSERT_EQ(dec.get(tables[t]), s);
    ASSERT_NO_THROW(dec.finish());
  }
}

TEST(Rans, EmptyStreamIsInitialState) {
  RansEncoder enc;
  const auto bytes = enc.finish();
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0x00, 0x00, 0x80, 0x00}));
  RansDecoder dec(bytes.data(), bytes.size());
  EXPECT_NO_THROW(dec.finish());
}

TEST(Rans, RejectsOutOfRangeSymbol) {
  const uint64_t counts[] = {1, 1, 1};
  const auto q = QuantizedCdf::from_counts(counts, 3, 16);
  RansEncoder enc;
  EXPECT_THROW(enc.put(3, q), Error);
}

TEST(Rans, TruncatedAndGarbageStreamsThrow) {
  std::mt19937_64 rng(3);
  const QuantizedCdf q = random_cdf(rng, 40, 12);
  std::vector<uint32_t> syms(500);
  RansEncoder enc;
  for (auto& s : syms) {
    s = static_cast<uint32_t>(rng() % 40);
    enc.put(s, q);
  }
  const auto bytes = enc.finish();
  auto decode_all = [&](const std::vector<uint8_t>& b) {
    RansDecoder dec(b.data(), b.size());
    for (size_t k = 0; k < syms.size(); ++k) dec.get(q);
    dec.finish();
  };
  ASSERT_NO_THROW(decode_all(bytes));
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_THROW(decode_all(std::vector<uint8_t>(bytes.begin(), bytes.begin() + len)), Error) << len;
  // Flipped bits may decode to other symbols (rANS leaves almost no redundancy to
  // check); what matters is that nothing but hrvq::Error ever comes out.
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= static_cast<uint8_t>(1u << (rng() % 8));
    try {
      decode_all(bad);
    } catch (const Error&) {
    }
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_THROW(decode_all(longer), Error);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> junk(rng() % 600);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    EXPECT_THROW(decode_all(junk), Error);
  }
}

}  // namespace
}  // namespace hrvq
