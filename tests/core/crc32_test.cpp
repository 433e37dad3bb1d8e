#include "hrvq/crc32.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hrvq {
namespace {

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST(Crc32, KnownVectors) {
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  EXPECT_EQ(crc32(bytes("123456789"), 9), 0xCBF43926u);  // the standard check value
}

TEST(Crc32, Continues) {
  const std::string s = "hierarchical residual";
  EXPECT_EQ(crc32(bytes(s) + 5, s.size() - 5, crc32(bytes(s), 5)), crc32(bytes(s), s.size()));
}

TEST(Fingerprint64, IsFnv1a64) {
  EXPECT_EQ(fingerprint64(nullptr, 0), 0xcbf29ce484222325ull);
  EXPECT_EQ(fingerprint64(bytes("a"), 1), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fingerprint64(bytes("foobar"), 6), 0x85944171f73967e8ull);
}

}  // namespace
}  // namespace hrvq
