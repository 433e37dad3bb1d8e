#include "hrvq/runtime.hpp"

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdlib>
#include <thread>

#include "device.hpp"
#include "hrvq/error.hpp"

namespace hrvq {

namespace {
int g_threads = 1;

// glibc's malloc by default returns freed memory at the top of the heap to the kernel
// once more than twice its (adaptive) mmap threshold is free. A network's activations
// are a few large tensors allocated and freed per call, so every call then faults its
// pages back in: in `perf record` of a slow decode a third of the time was page faults,
// and bench/codec-speed.sh encodes 2.4-3.1x faster with the fixed thresholds. Fixed
// thresholds keep freed memory for the next call; blocks over 32 MiB (glibc's largest
// mmap threshold) are still mapped and unmapped each time. HRVQ_MALLOC=default keeps
// glibc's adaptive behaviour, for measuring the difference.
void keep_freed_memory() {
#if defined(__GLIBC__)
  if (const char* env = std::getenv("HRVQ_MALLOC"); env && std::string(env) == "default") return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
}  // namespace

void init_runtime(int threads) {
  if (threads <= 0) {
    unsigned hw = std::thread::hardware_concurrency();
    threads = hw == 0 ? 1 : static_cast<int>(hw);
  }
  g_threads = threads;
  keep_freed_memory();
  // OpenBLAS reads OPENBLAS_NUM_THREADS only when it loads, which has happened by now,
  // so set it through its API when it is the BLAS in this process. HRVQ_OPENBLAS_THREADS
  // overrides, for benchmarking the alternatives.
  int blas_threads = 1;
  if (const char* env = std::getenv("HRVQ_OPENBLAS_THREADS")) blas_threads = std::atoi(env);
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    if (blas_threads > 0) fn(blas_threads);
  }
  torch::set_num_threads(threads);
}

int runtime_threads() { return g_threads; }

bool resolves_to_gpu(const std::string& device) {
  try {
    return resolve_device(device).is_cuda();
  } catch (const Error&) {
    return false;
  }
}

torch::Device resolve_device(const std::string& name) {
  bool cuda = torch::cuda::is_available();
  if (name == "auto") return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda") {
    if (!cuda) throw Error("--device cuda: no CUDA device available (this LibTorch build or this machine has none)");
    return torch::Device(torch::kCUDA);
  }
  throw Error(fmt::format("unknown device '{}' (expected auto, cpu or cuda)", name));
}

}  // namespace hrvq
