#include "hrvq/crc32.hpp"

#include <zlib.h>

#include <algorithm>

namespace hrvq {

uint32_t crc32(const uint8_t* data, size_t size, uint32_t prev) {
  // zlib takes uInt lengths, which may be narrower than size_t.
  uLong crc = prev;
  while (size > 0) {
    const size_t chunk = std::min<size_t>(size, 1u << 30);
    crc = ::crc32(crc, data, static_cast<uInt>(chunk));
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

uint64_t fingerprint64(const uint8_t* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace hrvq
