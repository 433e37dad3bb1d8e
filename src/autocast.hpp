// Mixed precision: bf16 autocast for the forward pass on the CPU (oneDNN) or CUDA. bf16
// keeps fp32's exponent range, so no loss scaling is needed; weights, optimizer state
// and the quantizer stay fp32 (QuantizerPrecisionGuard). The autocast API changed in
// LibTorch 2.4; this guard compiles against 1.13 and 2.x.
#pragma once
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/core/Device.h>
#include <torch/version.h>

namespace hrvq {

class Autocast {
 public:
  Autocast(c10::Device device, bool enable) : cuda_(device.is_cuda()), enabled_(enable) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
    at::autocast::set_autocast_enabled(type, true);
#else
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }
  ~Autocast() {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
    at::autocast::clear_cache();
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool cuda_;
  bool enabled_;
};

// Whether `device` runs bf16 convolutions. oneDNN has them only on CPUs with AVX-512
// (bw, vl, dq); elsewhere the first bf16 convolution would fail mid-run, so callers
// probe once, before any work, and refuse with their own message.
inline bool bf16_convolutions_available(c10::Device device) {
  try {
    at::NoGradGuard no_grad;
    auto probe = at::ones({1, 1, 2, 2}, at::TensorOptions().dtype(at::kBFloat16).device(device));
    (void)at::conv2d(probe, probe.slice(2, 0, 1).slice(3, 0, 1));
    return true;
  } catch (const c10::Error&) {
    return false;
  }
}

// Inside an autocast region, runs what follows at the precision of its inputs: the code
// search compares distances whose differences are far below bf16's resolution.
class NoAutocast {
 public:
  NoAutocast()
      : guard_(c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA})) {}

 private:
  c10::impl::ExcludeDispatchKeyGuard guard_;
};

}  // namespace hrvq
