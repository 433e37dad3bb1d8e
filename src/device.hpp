// Device choice and the process-wide thread setup.
#pragma once
#include <string>

#include <torch/torch.h>

namespace hrvq {

// "auto" picks CUDA when LibTorch has it and a GPU is visible; "cuda" without one is an error.
torch::Device resolve_device(const std::string& name);

}  // namespace hrvq
