#include "hrvq/entropy_model.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <random>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

constexpr Coder kCoders[] = {Coder::Raw, Coder::Rans, Coder::Zstd};

LayerEntropyModel random_model(std::mt19937_64& rng, uint32_t contexts, uint32_t m) {
  std::vector<uint64_t> counts(size_t{contexts} * m);
  // Skewed, with many never-seen symbols, like real code counts.
  for (auto& c : counts) c = rng() % 3 == 0 ? 0 : (rng() % 1000) * (rng() % 1000);
  return LayerEntropyModel(std::move(counts), contexts, m);
}

// Draws a symbol from the add-one smoothed count distribution of `context`.
uint16_t sample_counts(std::mt19937_64& rng, const LayerEntropyModel& model, uint32_t context) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double r = u(rng);
  const uint32_t m = model.num_symbols();
  for (uint32_t s = 0; s + 1 < m; ++s) {
    r -= model.exact_probability(context, s);
    if (r < 0) return static_cast<uint16_t>(s);
  }
  return static_cast<uint16_t>(m - 1);
}

// Draws a symbol from the model's quantized distribution in `context`.
uint16_t sample(std::mt19937_64& rng, const LayerEntropyModel& model, uint32_t context) {
  const QuantizedCdf& q = model.cdf(context);
  const uint32_t slot = static_cast<uint32_t>(rng() % q.cdf.back());
  uint32_t s = 0;
  while (q.cdf[s + 1] <= slot) ++s;
  return static_cast<uint16_t>(s);
}

void expect_round_trip(const std::vector<uint16_t>& syms, const std::vector<uint32_t>& ctx,
                       const LayerEntropyModel& model) {
  for (Coder coder : kCoders) {
    const auto bytes = encode_index_map(syms.data(), ctx.data(), syms.size(), model, coder);
    EXPECT_GE(bytes.size(), min_encoded_size(coder, model.num_symbols(), syms.size())) << coder_name(coder);
    EXPECT_LE(bytes.size(), max_encoded_size(coder, model.num_symbols(), syms.size())) << coder_name(coder);
    const auto back = decode_index_map(bytes.data(), bytes.size(), ctx.data(), syms.size(), model, coder);
    ASSERT_EQ(back, syms) << coder_name(coder) << " m=" << model.num_symbols();
  }
}

TEST(Coder, Names) {
  for (Coder c : kCoders) EXPECT_EQ(parse_coder(coder_name(c)), c);
  EXPECT_THROW(parse_coder("huffman"), Error);
  EXPECT_TRUE(is_valid_coder(3));
  EXPECT_FALSE(is_valid_coder(4));
}

TEST(LayerEntropyModel, RejectsBadShapes) {
  EXPECT_THROW(LayerEntropyModel({1, 2, 3}, 1, 2), Error);
  EXPECT_THROW(LayerEntropyModel({}, 0, 2), Error);
  EXPECT_THROW(LayerEntropyModel(std::vector<uint64_t>(4097), 1, 4097), Error);
  EXPECT_THROW(LayerEntropyModel(std::vector<uint64_t>(0), 1, 0), Error);
}

TEST(IndexMap, RoundTripRandom) {
  std::mt19937_64 rng(11);
  for (uint32_t m : {2u, 3u, 5u, 8u, 255u, 256u, 257u, 1000u, 4096u}) {
    const uint32_t contexts = 1 + static_cast<uint32_t>(rng() % 5);
    const auto model = random_model(rng, contexts, m);
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
      std::vector<uint16_t> syms(n);
      std::vector<uint32_t> ctx(n);
      for (size_t k = 0; k < n; ++k) {
        ctx[k] = static_cast<uint32_t>(rng() % contexts);
        syms[k] = static_cast<uint16_t>(rng() % m);
      }
      expect_round_trip(syms, ctx, model);
    }
  }
}

TEST(IndexMap, RoundTripAdversarial) {
  std::mt19937_64 rng(12);
  for (uint32_t m : {2u, 16u, 300u, 4096u}) {
    const auto model = random_model(rng, 3, m);
    const size_t n = 5000;
    std::vector<uint32_t> ctx(n);
    for (auto& c : ctx) c = static_cast<uint32_t>(rng() % 3);
    // One symbol everywhere, the largest symbol everywhere, and the least likely
    // symbol of each position's context (the rANS worst case: up to 16 bits each).
    std::vector<uint16_t> zero(n, 0), top(n, static_cast<uint16_t>(m - 1)), rare(n);
    for (size_t k = 0; k < n; ++k) {
      const QuantizedCdf& q = model.cdf(ctx[k]);
      uint32_t best = 0;
      for (uint32_t s = 1; s < m; ++s)
        if (q.freq(s) < q.freq(best)) best = s;
      rare[k] = static_cast<uint16_t>(best);
    }
    expect_round_trip(zero, ctx, model);
    expect_round_trip(top, ctx, model);
    expect_round_trip(rare, ctx, model);
  }
}

TEST(IndexMap, RansMatchesCrossEntropy) {
  std::mt19937_64 rng(13);
  for (uint32_t m : {2u, 8u, 64u, 512u, 4096u}) {
    const auto model = random_model(rng, 4, m);
    const size_t n = 20000;
    std::vector<uint16_t> syms(n);
    std::vector<uint32_t> ctx(n);
    for (size_t k = 0; k < n; ++k) {
      ctx[k] = static_cast<uint32_t>(rng() % 4);
      syms[k] = sample(rng, model, ctx[k]);
    }
    const double ideal = model.cross_entropy_bits(syms.data(), ctx.data(), n);
    const auto bytes = encode_index_map(syms.data(), ctx.data(), n, model, Coder::Rans);
    const double actual = 8.0 * bytes.size();
    EXPECT_LE(actual, ideal * 1.01 + 64) << "m=" << m;
    EXPECT_GE(actual, ideal * 0.99 - 64) << "m=" << m;
  }
}

TEST(IndexMap, QuantizationLosesLittle) {
  // Symbols drawn from the counts themselves: the 16-bit tables cost little more than
  // the exact probabilities (about 0.5% at m = 4096, where the one-slot floor of every
  // never-seen symbol adds up; far less for small m).
  std::mt19937_64 rng(17);
  for (uint32_t m : {2u, 8u, 64u, 512u, 4096u}) {
    const auto model = random_model(rng, 2, m);
    const size_t n = 20000;
    std::vector<uint16_t> syms(n);
    std::vector<uint32_t> ctx(n);
    for (size_t k = 0; k < n; ++k) {
      ctx[k] = static_cast<uint32_t>(rng() % 2);
      syms[k] = sample_counts(rng, model, ctx[k]);
    }
    const double exact = model.exact_cross_entropy_bits(syms.data(), ctx.data(), n);
    const double quantized = model.cross_entropy_bits(syms.data(), ctx.data(), n);
    EXPECT_LE(quantized, exact * 1.01 + 64) << "m=" << m;
  }
}

TEST(IndexMap, HrContexts) {
  // Three layers of m = 8, contexts as the HR hierarchy defines them.
  std::mt19937_64 rng(14);
  const uint32_t m = 8;
  const size_t n = 256;
  std::vector<uint32_t> ctx(n, 0);
  for (unsigned layer = 0; layer < 3; ++layer) {
    const uint32_t contexts = 1u << (3 * layer);
    const auto model = random_model(rng, contexts, m);
    std::vector<uint16_t> syms(n);
    for (size_t k = 0; k < n; ++k) syms[k] = sample(rng, model, ctx[k]);
    expect_round_trip(syms, ctx, model);
    advance_hr_contexts(ctx, syms, m);
    for (uint32_t c : ctx) ASSERT_LT(c, contexts * m);
  }
  std::vector<uint32_t> big{0xFFFFFFF0u};
  EXPECT_THROW(advance_hr_contexts(big, {1}, 16), Error);
}

TEST(IndexMap, EncoderRejectsBadInput) {
  std::mt19937_64 rng(15);
  const auto model = random_model(rng, 2, 10);
  const std::vector<uint16_t> syms{1, 10};
  const std::vector<uint32_t> ctx{0, 1};
  for (Coder c : kCoders) EXPECT_THROW(encode_index_map(syms.data(), ctx.data(), 2, model, c), Error);
  const std::vector<uint16_t> ok{1, 2};
  const std::vector<uint32_t> bad_ctx{0, 2};
  EXPECT_THROW(encode_index_map(ok.data(), bad_ctx.data(), 2, model, Coder::Rans), Error);
}

TEST(IndexMap, RawRejectsMalformed) {
  const LayerEntropyModel model(std::vector<uint64_t>(3, 1), 1, 3);  // 2 bits, index 3 invalid
  const std::vector<uint32_t> ctx(4, 0);
  auto dec = [&](std::vector<uint8_t> b, size_t n) {
    return decode_index_map(b.data(), b.size(), ctx.data(), n, model, Coder::Raw);
  };
  EXPECT_EQ(dec({0b00011000}, 3), (std::vector<uint16_t>{0, 1, 2}));
  EXPECT_THROW(dec({0b11000000}, 1), Error);         // index 3 >= m
  EXPECT_THROW(dec({0b00011001}, 3), Error);         // padding bit set
  EXPECT_THROW(dec({0b00011000, 0}, 3), Error);      // too long
  EXPECT_THROW(dec({}, 3), Error);                   // too short
}

TEST(IndexMap, ZstdRejectsMalformed) {
  const LayerEntropyModel model(std::vector<uint64_t>(10, 1), 1, 10);
  const std::vector<uint32_t> ctx(100, 0);
  auto compress = [](const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
    out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3));
    return out;
  };
  auto dec = [&](const std::vector<uint8_t>& b, size_t n) {
    return decode_index_map(b.data(), b.size(), ctx.data(), n, model, Coder::Zstd);
  };
  const std::vector<uint8_t> good_raw(100, 9);
  const auto good = compress(good_raw);
  EXPECT_EQ(dec(good, 100), std::vector<uint16_t>(100, 9));
  EXPECT_THROW(dec(good, 99), Error);                       // wrong size
  EXPECT_THROW(dec(compress(std::vector<uint8_t>(100, 10)), 100), Error);  // index >= m
  auto twice = good;
  twice.insert(twice.end(), good.begin(), good.end());
  EXPECT_THROW(dec(twice, 200), Error);                     // two frames
  EXPECT_THROW(dec(std::vector<uint8_t>(20, 0x5a), 100), Error);
  for (size_t len = 0; len < good.size(); ++len)
    EXPECT_THROW(dec(std::vector<uint8_t>(good.begin(), good.begin() + len), 100), Error) << len;
}

TEST(IndexMap, CorruptRansPayloadThrows) {
  std::mt19937_64 rng(16);
  const auto model = random_model(rng, 2, 16);
  const size_t n = 300;
  std::vector<uint16_t> syms(n);
  std::vector<uint32_t> ctx(n);
  for (size_t k = 0; k < n; ++k) {
    ctx[k] = k % 2;
    syms[k] = sample(rng, model, ctx[k]);
  }
  const auto bytes = encode_index_map(syms.data(), ctx.data(), n, model, Coder::Rans);
  // A good entropy coder leaves little redundancy, so a flipped bit can decode to
  // another valid map (the bitstream's CRC catches that); it must never do more than
  // throw hrvq::Error, and mostly it does.
  size_t caught = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int b = 0; b < 8; ++b) {
      auto bad = bytes;
      bad[i] ^= static_cast<uint8_t>(1u << b);
      try {
        const auto out = decode_index_map(bad.data(), bad.size(), ctx.data(), n, model, Coder::Rans);
        EXPECT_NE(out, syms);
      } catch (const Error&) {
        ++caught;
      }
    }
  }
  EXPECT_GT(caught, bytes.size() * 8 * 9 / 10);
  EXPECT_THROW(decode_index_map(bytes.data(), bytes.size() - 1, ctx.data(), n, model, Coder::Rans), Error);
  EXPECT_THROW(decode_index_map(bytes.data(), 2, ctx.data(), n, model, Coder::Rans), Error);
  const std::vector<uint8_t> huge(2 * n + 5, 0x80);
  EXPECT_THROW(decode_index_map(huge.data(), huge.size(), ctx.data(), n, model, Coder::Rans), Error);
}

}  // namespace
}  // namespace hrvq
