// Reads a PyTorch state_dict written by torch.save(model.state_dict(), PATH) without
// Python: the zip container of PyTorch >= 1.6 and the older "legacy" stream of pickles
// (the pytorch-fid Inception weights predate the zip format), with a small unpickler
// that understands only what a state_dict pickle contains. The file is untrusted input:
// every size, offset and stride is checked, and anything unexpected is an hrvq::Error.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

namespace hrvq {

using StateDict = std::map<std::string, torch::Tensor>;

// Largest weight file read into memory.
constexpr uint64_t kMaxStateDictBytes = 1ull << 31;

// `name` is used in error messages ("NAME: truncated zip archive").
StateDict read_state_dict(const uint8_t* data, size_t size, const std::string& name);
StateDict read_state_dict(const std::string& path);

}  // namespace hrvq
