#include "hrvq/rate_control.hpp"

#include <gtest/gtest.h>

#include "hrvq/error.hpp"

namespace hrvq {
namespace {

TEST(RateControl, QualityCoversEveryPrefixInOrder) {
  EXPECT_EQ(layers_for_quality(0, 16), 1);
  EXPECT_EQ(layers_for_quality(100, 16), 16);
  EXPECT_EQ(layers_for_quality(100, 1), 1);
  int last = 0;
  std::vector<bool> seen(17, false);
  for (int q = 0; q <= 100; ++q) {
    const int k = layers_for_quality(q, 16);
    EXPECT_GE(k, last) << q;
    seen[k] = true;
    last = k;
  }
  for (int k = 1; k <= 16; ++k) EXPECT_TRUE(seen[k]) << "no quality gives " << k << " maps";
  EXPECT_THROW(layers_for_quality(101, 16), Error);
  EXPECT_THROW(layers_for_quality(-1, 16), Error);
}

TEST(RateControl, SizeBudgetPicksTheLargestFittingPrefix) {
  const std::vector<size_t> sizes = {100, 180, 250, 400};
  EXPECT_EQ(layers_for_size(sizes, 99), 0);
  EXPECT_EQ(layers_for_size(sizes, 100), 1);
  EXPECT_EQ(layers_for_size(sizes, 249.9), 2);
  EXPECT_EQ(layers_for_size(sizes, 250), 3);
  EXPECT_EQ(layers_for_size(sizes, 1e9), 4);
}

TEST(RateControl, PsnrTargetFindsTheSmallestPrefixWithFewProbes) {
  // PSNR grows with k: 20, 22, ..., 50 dB for k = 1..16.
  int probes = 0;
  auto psnr_of = [&](int k) {
    ++probes;
    return 18.0 + 2.0 * k;
  };
  bool reached = false;
  for (double target : {19.0, 20.0, 21.0, 33.0, 50.0}) {
    probes = 0;
    const int k = layers_for_psnr(16, target, psnr_of, &reached);
    EXPECT_TRUE(reached) << target;
    EXPECT_GE(psnr_of(k), target);
    if (k > 1) EXPECT_LT(psnr_of(k - 1), target);
    EXPECT_LE(probes, 1 + 5 + 2) << "bisection over 16 prefixes";
  }
  EXPECT_EQ(layers_for_psnr(16, 60, psnr_of, &reached), 16);
  EXPECT_FALSE(reached);
}

}  // namespace
}  // namespace hrvq
