// Precompiled header for every LibTorch translation unit of hrvq_lib and its tests.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <string>
#include <vector>
#include <memory>
