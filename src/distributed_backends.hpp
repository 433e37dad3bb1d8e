// The c10d backends, one file each; only distributed.cpp calls these.
#pragma once
#include <chrono>
#include <memory>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "distributed.hpp"

namespace hrvq {

std::unique_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                     std::chrono::milliseconds timeout);
bool nccl_available();
std::unique_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                     std::chrono::milliseconds timeout);

}  // namespace hrvq
