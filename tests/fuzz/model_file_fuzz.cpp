// libFuzzer target for the model file parser. Any input must either parse or fail with
// hrvq::Error; a crash, a sanitizer report or any other exception is a bug. Parsing both
// with and without the checksum check lets the fuzzer reach the structural checks
// without having to forge CRCs.
#include <cstddef>
#include <cstdint>

#include "hrvq/error.hpp"
#include "hrvq/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (bool verify : {true, false}) {
    try {
      hrvq::ModelFile m = hrvq::parse_model_file(data, size, "fuzz", verify);
      // What parses must serialize: the reader accepts nothing the writer would refuse.
      (void)hrvq::serialize_model_file(m);
    } catch (const hrvq::Error&) {
    }
  }
  return 0;
}
