// Checksums used by the .hrvq bitstream and the model file. Both are specified in
// format/bitstream.md so a second implementation can compute them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hrvq {

// CRC-32 as in zlib, PNG and gzip (IEEE 802.3, reflected polynomial 0xEDB88320, initial
// value and final xor 0xFFFFFFFF). `prev` continues a running CRC: crc32(b, crc32(a))
// equals the CRC of a followed by b.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t prev = 0);

// FNV-1a, 64 bit: h = 0xcbf29ce484222325; for each byte: h ^= byte; h *= 0x100000001b3
// (mod 2^64). Identifies a model file's exact bytes; it is not a cryptographic hash.
uint64_t fingerprint64(const uint8_t* data, size_t size);

}  // namespace hrvq
