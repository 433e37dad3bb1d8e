// The Gloo backend: collectives over TCP between CPU processes, on this machine or across
// machines. Debian's LibTorch is built with Gloo; its header is guarded by USE_C10D_GLOO.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <cstdlib>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "c10d_communicator.hpp"
#include "distributed_backends.hpp"

namespace hrvq {

std::unique_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                     std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  // As torch.distributed does: GLOO_SOCKET_IFNAME picks the network interface, otherwise
  // the one this host's name resolves to.
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  options->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                               : c10d::ProcessGroupGloo::createDefaultDevice());
  auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
  return std::make_unique<C10dCommunicator<c10d::ProcessGroupGloo>>(std::move(group), rank, world, timeout);
}

}  // namespace hrvq
