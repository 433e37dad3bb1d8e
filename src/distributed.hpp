// Data-parallel jobs on torch.distributed's c10d: the process's place in the job, read
// from the variables torchrun sets, and the collectives the trainers need.
//
// Every collective here is called by every rank at the same point of the same step, and
// every branch that decides whether a collective happens depends only on values that are
// already identical on all ranks (synchronised code usage, reduced loss, the step number):
// a rank that took a different branch would otherwise hang the others. A peer that dies or
// stalls makes the pending collective fail within the job's timeout, and that failure
// becomes one hrvq::Error naming this rank and the operation.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "hrvq/model_file.hpp"

namespace hrvq {

// What torchrun (or a hand-written launcher) tells a worker about the job.
struct RankEnvironment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves a TCPStore on MASTER_PORT: every rank is a client.
  bool agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: keys of a restarted job stay apart
  bool distributed() const { return world_size > 1; }
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and torchrun's
// TORCHELASTIC_* variables. Without RANK and WORLD_SIZE the process is a job of one.
// Throws hrvq::Error naming the variable when one is malformed or inconsistent.
RankEnvironment rank_environment_from(const std::function<const char*(const char*)>& getenv_fn);
RankEnvironment rank_environment();

struct DistributedOptions {
  std::string backend = "auto";  // auto (nccl for CUDA, gloo otherwise), gloo or nccl
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// A collective that was started and not yet waited for.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Blocks until it is done; fails as the blocking collectives do (hrvq::Error naming
  // the rank and the operation).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  bool is_root() const { return rank() == 0; }

  // In place, over all ranks. `what` names the operation in error messages.
  virtual void all_reduce_sum(torch::Tensor& t, const char* what) = 0;
  virtual void all_reduce_max(torch::Tensor& t, const char* what) = 0;
  // Several tensors at once (one collective each, all in flight together).
  virtual void all_reduce_sum(std::vector<torch::Tensor>& ts, const char* what) = 0;
  // Starts an in-place sum over all ranks and returns at once; `t` must stay alive and
  // untouched until wait(). Every rank must start its collectives in the same order.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(torch::Tensor& t, const char* what) = 0;
  virtual void broadcast(torch::Tensor& t, int root, const char* what) = 0;
  virtual void barrier(const char* what) = 0;
  // Every rank's `rows` (same trailing shape, any number of rows) stacked in rank order.
  virtual torch::Tensor all_gather_rows(const torch::Tensor& rows, const char* what) = 0;
  // Root's bytes on every rank. A root that could not produce them passes ok = false with
  // `error` as the reason, and every rank then throws that reason.
  std::vector<uint8_t> broadcast_bytes(std::vector<uint8_t> bytes, bool ok, const std::string& error,
                                       const char* what);
  // Element-wise sums of per-rank counters (code counts), exact in int64.
  void all_reduce_counts(std::vector<std::vector<uint64_t>>& counts, const char* what);
  // Root's parameters and buffers copied to every rank.
  void broadcast_module(torch::nn::Module& module, const char* what);
  // Throws hrvq::Error on every rank unless all ranks hold bit-identical parameters and
  // buffers: replicas that drifted apart (a codebook update one rank missed) are caught
  // at the next checkpoint instead of silently training different models.
  void check_replicas_agree(torch::nn::Module& module, int64_t step);
};

// join_job(rank_environment(), ...) with the options as the CLI gives them; checks them.
std::unique_ptr<Communicator> join_job_from_environment(const std::string& backend, double timeout_s,
                                                        const torch::Device& device);

// A model file or checkpoint every rank needs: rank 0 reads it and sends the bytes, so
// ranks on other machines need no shared file system and all parse the same bytes. A job
// of one just opens the file.
LoadedModelFile open_model_on_root(Communicator& comm, const std::string& path, const char* what);

// The job of one process: every collective is the identity.
std::unique_ptr<Communicator> local_communicator();

// Joins the job described by `env` (a job of one gives local_communicator()). Rendezvous
// through a c10d TCPStore: rank 0 serves it on MASTER_ADDR:MASTER_PORT unless torchrun's
// agent already does. Collectives run on ProcessGroupGloo for CPU tensors and on
// ProcessGroupNCCL for CUDA tensors where the LibTorch build has NCCL.
std::unique_ptr<Communicator> join_job(const RankEnvironment& env, const DistributedOptions& options,
                                       const torch::Device& device);

}  // namespace hrvq
