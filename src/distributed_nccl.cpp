// The NCCL backend, for CUDA tensors. Compiled in only when the LibTorch build has NCCL:
// Torch's CMake package then defines USE_C10D_NCCL, as it defines USE_C10D_GLOO here; the
// CPU build reports that it is missing.
#include "distributed_backends.hpp"

#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "c10d_communicator.hpp"
#else
#include "hrvq/error.hpp"
#endif

namespace hrvq {

bool nccl_available() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                     std::chrono::milliseconds timeout) {
#ifdef USE_C10D_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
  return std::make_unique<C10dCommunicator<c10d::ProcessGroupNCCL>>(std::move(group), rank, world, timeout);
#else
  (void)store, (void)rank, (void)world, (void)timeout;
  throw Error("--dist-backend nccl: this hrvq was built against a LibTorch without NCCL (use gloo)");
#endif
}

}  // namespace hrvq
