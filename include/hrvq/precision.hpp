// Numeric precision of the networks (encoder and decoder convolutions). The quantizer's
// code search, the codebooks and the losses always stay in fp32.
#pragma once
#include <string>

namespace hrvq {

enum class Precision {
  Fp32,  // the reference: what models are trained and files are specified against
  Bf16,  // bfloat16 convolutions (oneDNN on CPUs with AVX-512; CUDA): about twice as fast
};

// "fp32" or "bf16"; throws hrvq::Error naming the accepted values otherwise.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

}  // namespace hrvq
