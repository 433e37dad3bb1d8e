#include "distributed.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "c10d_communicator.hpp"
#include "distributed_backends.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"

namespace hrvq {

namespace {

// A whole non-negative decimal number in [lo, hi], or an error naming the variable.
int parse_int_variable(const char* name, const char* text, int lo, int hi) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || errno || v < lo || v > hi)
    throw Error(fmt::format("environment variable {}='{}': expected a whole number in {}..{}", name, text, lo, hi));
  return static_cast<int>(v);
}

bool truthy(const char* text) {
  std::string s(text);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "1" || s == "true" || s == "yes";
}

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(torch::Tensor&, const char*) override {}
  void all_reduce_max(torch::Tensor&, const char*) override {}
  void all_reduce_sum(std::vector<torch::Tensor>&, const char*) override {}
  std::unique_ptr<PendingCollective> start_all_reduce_sum(torch::Tensor&, const char*) override {
    struct Done final : PendingCollective {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(torch::Tensor&, int, const char*) override {}
  void barrier(const char*) override {}
  torch::Tensor all_gather_rows(const torch::Tensor& rows, const char*) override { return rows; }
};

}  // namespace

RankEnvironment rank_environment_from(const std::function<const char*(const char*)>& getenv_fn) {
  RankEnvironment env;
  const char* rank = getenv_fn("RANK");
  const char* world = getenv_fn("WORLD_SIZE");
  if (!rank && !world) return env;
  if (!rank || !world)
    throw Error(fmt::format("environment: {} is set but {} is not (a distributed job needs both; torchrun sets them)",
                            rank ? "RANK" : "WORLD_SIZE", rank ? "WORLD_SIZE" : "RANK"));
  constexpr int kMaxWorld = 1 << 16;
  env.world_size = parse_int_variable("WORLD_SIZE", world, 1, kMaxWorld);
  env.rank = parse_int_variable("RANK", rank, 0, kMaxWorld - 1);
  if (env.rank >= env.world_size)
    throw Error(fmt::format("environment: RANK={} is not below WORLD_SIZE={}", env.rank, env.world_size));
  if (const char* lr = getenv_fn("LOCAL_RANK")) env.local_rank = parse_int_variable("LOCAL_RANK", lr, 0, kMaxWorld - 1);
  if (const char* addr = getenv_fn("MASTER_ADDR"); addr && *addr) env.master_addr = addr;
  if (const char* port = getenv_fn("MASTER_PORT")) env.master_port = parse_int_variable("MASTER_PORT", port, 1, 65535);
  if (const char* agent = getenv_fn("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = truthy(agent);
  if (const char* rc = getenv_fn("TORCHELASTIC_RESTART_COUNT"))
    env.restart_count = parse_int_variable("TORCHELASTIC_RESTART_COUNT", rc, 0, std::numeric_limits<int>::max());
  return env;
}

RankEnvironment rank_environment() {
  return rank_environment_from([](const char* name) -> const char* { return std::getenv(name); });
}

std::unique_ptr<Communicator> local_communicator() { return std::make_unique<LocalCommunicator>(); }

std::unique_ptr<Communicator> join_job(const RankEnvironment& env, const DistributedOptions& options,
                                       const torch::Device& device) {
  if (!env.distributed()) return local_communicator();
  std::string backend = options.backend;
  if (backend == "auto") backend = device.is_cuda() && nccl_available() ? "nccl" : "gloo";
  if (backend != "gloo" && backend != "nccl")
    throw Error(fmt::format("unknown distributed backend '{}' (expected auto, gloo or nccl)", options.backend));
  if (backend == "gloo" && device.is_cuda())
    throw Error("--dist-backend gloo: training on CUDA needs the nccl backend");
  if (backend == "nccl" && !device.is_cuda()) throw Error("--dist-backend nccl: needs --device cuda");

  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.timeout = options.timeout;
    // Under torchrun the agent serves the store on MASTER_PORT and every worker, rank 0
    // included, is its client; a job started by hand has rank 0 serve it.
    so.isServer = !env.agent_store && env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    // Every rank, client or server, checks in; only the server then waits for all of them.
    so.waitWorkers = true;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/hrvq/attempt_{}", env.restart_count), tcp);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {}: cannot join the job's store at {}:{} within {} s ({})", env.rank,
                            env.world_size, env.master_addr, env.master_port, options.timeout.count() / 1000,
                            first_line_of(e)));
  }
  try {
    return backend == "nccl" ? make_nccl_communicator(store, env.rank, env.world_size, options.timeout)
                             : make_gloo_communicator(store, env.rank, env.world_size, options.timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {}: cannot connect the {} process group within {} s ({})", env.rank,
                            env.world_size, backend, options.timeout.count() / 1000, first_line_of(e)));
  }
}

std::vector<uint8_t> Communicator::broadcast_bytes(std::vector<uint8_t> bytes, bool ok, const std::string& error,
                                                   const char* what) {
  if (world_size() == 1) {
    if (!ok) throw Error(error);
    return bytes;
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto header = torch::tensor({ok ? static_cast<int64_t>(bytes.size()) : int64_t{-1}}, i64);
  broadcast(header, 0, what);
  const int64_t size = header.item<int64_t>();
  if (size < 0) {
    if (is_root()) throw Error(error);
    throw Error(fmt::format("rank {} of {}: {}: rank 0 could not read it (its error says why)", rank(), world_size(),
                            what));
  }
  auto payload = is_root() ? torch::from_blob(bytes.data(), {size}, torch::kUInt8).clone()
                           : torch::empty({size}, torch::kUInt8);
  broadcast(payload, 0, what);
  if (!is_root()) bytes.assign(payload.data_ptr<uint8_t>(), payload.data_ptr<uint8_t>() + size);
  return bytes;
}

void Communicator::all_reduce_counts(std::vector<std::vector<uint64_t>>& counts, const char* what) {
  if (world_size() == 1) return;
  size_t total = 0;
  for (const auto& c : counts) total += c.size();
  auto flat = torch::empty({static_cast<int64_t>(total)}, torch::kInt64);
  auto* p = flat.data_ptr<int64_t>();
  for (const auto& c : counts)
    for (uint64_t v : c) *p++ = static_cast<int64_t>(v);
  all_reduce_sum(flat, what);
  p = flat.data_ptr<int64_t>();
  for (auto& c : counts)
    for (auto& v : c) v = static_cast<uint64_t>(*p++);
}

void Communicator::broadcast_module(torch::nn::Module& module, const char* what) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> all;
  for (auto& p : module.parameters()) all.push_back(p);
  for (auto& b : module.buffers()) all.push_back(b);
  for (auto& t : all) {
    // Broadcast works on contiguous storage; copy back where the tensor is a view.
    auto c = t.contiguous();
    broadcast(c, 0, what);
    if (!c.is_same(t)) t.copy_(c);
  }
}

void Communicator::check_replicas_agree(torch::nn::Module& module, int64_t step) {
  if (world_size() == 1) return;
  // fingerprint64 of every tensor's bytes, combined in a fixed order.
  uint64_t h = 0x6a09e667f3bcc908ull;
  auto mix = [&h](const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h = h * 0x100000001b3ull ^ fingerprint64(static_cast<const uint8_t*>(c.data_ptr()), c.nbytes());
  };
  for (auto& p : module.named_parameters()) mix(p.value());
  for (auto& b : module.named_buffers()) mix(b.value());
  auto mine = torch::tensor({static_cast<int64_t>(h)}, torch::kInt64);
  auto all = all_gather_rows(mine, "the replica check");
  for (int r = 1; r < world_size(); ++r)
    if (all[r].item<int64_t>() != all[0].item<int64_t>())
      throw Error(fmt::format("rank {} of {}: at step {} the weights of rank {} differ from rank 0's (replicas drifted "
                              "apart); the last checkpoint is kept",
                              rank(), world_size(), step, r));
}

std::unique_ptr<Communicator> join_job_from_environment(const std::string& backend, double timeout_s,
                                                        const torch::Device& device) {
  if (!(timeout_s > 0 && timeout_s <= 86400))
    throw Error(fmt::format("--dist-timeout must be in (0, 86400] seconds, not {}", timeout_s));
  DistributedOptions options;
  options.backend = backend;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  return join_job(rank_environment(), options, device);
}

LoadedModelFile open_model_on_root(Communicator& comm, const std::string& path, const char* what) {
  if (comm.world_size() == 1) return open_model_file(path);
  std::vector<uint8_t> bytes;
  std::string error;
  bool ok = true;
  if (comm.is_root()) {
    try {
      if (!file_exists(path)) throw Error(fmt::format("{}: no such file", path));
      bytes = read_file(path, kModelFileMaxSize);
    } catch (const Error& e) {
      ok = false;
      error = e.what();
    }
  }
  bytes = comm.broadcast_bytes(std::move(bytes), ok, error, what);
  return open_model_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace hrvq
