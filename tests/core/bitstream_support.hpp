// Helpers of the container tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "hrvq/bitstream.hpp"
#include "hrvq/error.hpp"

namespace hrvq::test {

// The parser's one-line error for a file named f.hrvq, or "" when it parses.
inline std::string parse_error_of(const std::vector<uint8_t>& bytes) {
  try {
    parse_bitstream(bytes, "f.hrvq");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace hrvq::test
