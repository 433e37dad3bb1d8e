// Process-wide compute setup, called once by programs before any work.
#pragma once

namespace hrvq {

// Sets LibTorch's intra-op threads (0 = one per core) and keeps OpenBLAS at one thread:
// its own pthreads otherwise compete with torch's OpenMP threads for the same cores
// (measured in bench/threads.sh).
void init_runtime(int threads = 0);
int runtime_threads();

}  // namespace hrvq
