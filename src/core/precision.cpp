#include "hrvq/precision.hpp"

#include <fmt/format.h>

#include "hrvq/error.hpp"

namespace hrvq {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  throw Error(fmt::format("unknown precision '{}' (expected fp32 or bf16)", name));
}

const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

}  // namespace hrvq
