// Process-wide compute setup, called once by programs before any work.
#pragma once
#include <string>

namespace hrvq {

// Sets LibTorch's intra-op threads (0 = one per core) and keeps OpenBLAS at one thread:
// its own pthreads otherwise compete with torch's OpenMP threads for the same cores
// (measured in bench/threads.sh). Also makes glibc's malloc keep freed memory for reuse
// instead of returning it to the kernel after every network call (runtime.cpp).
void init_runtime(int threads = 0);
int runtime_threads();
// Whether a device name (auto | cpu | cuda) means a GPU on this machine; false for a
// name that is not a device (whoever uses it reports that).
bool resolves_to_gpu(const std::string& device);

}  // namespace hrvq
