// Communicator over one c10d process group. A template over the group type because
// LibTorch 1.13 derives ProcessGroupGloo/NCCL from ProcessGroup and 2.x from Backend: both
// have the same collective methods, and only the backend files name the concrete type.
// Included by distributed_gloo.cpp and distributed_nccl.cpp only.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "distributed.hpp"
#include "hrvq/error.hpp"

namespace hrvq {

// The first line of a c10d/Gloo failure, without LibTorch's backtrace.
inline std::string first_line_of(const std::exception& e) {
  const auto* ce = dynamic_cast<const c10::Error*>(&e);
  std::string text = ce ? ce->what_without_backtrace() : e.what();
  auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  return text;
}

template <typename Group>
class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<Group> group, int rank, int world, std::chrono::milliseconds timeout)
      : group_(std::move(group)), rank_(rank), world_(world), timeout_(timeout) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  void all_reduce_sum(torch::Tensor& t, const char* what) override {
    std::vector<torch::Tensor> one{t};
    reduce(one, c10d::ReduceOp::SUM, what);
  }
  void all_reduce_max(torch::Tensor& t, const char* what) override {
    std::vector<torch::Tensor> one{t};
    reduce(one, c10d::ReduceOp::MAX, what);
  }

  void all_reduce_sum(std::vector<torch::Tensor>& ts, const char* what) override {
    reduce(ts, c10d::ReduceOp::SUM, what);
  }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(torch::Tensor& t, const char* what) override {
    auto pending = std::make_unique<Pending>(*this, what);
    guard(what, [&] {
      std::vector<torch::Tensor> one{t};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      o.timeout = timeout_;
      pending->work = group_->allreduce(one, o);
    });
    return pending;
  }

  void broadcast(torch::Tensor& t, int root, const char* what) override {
    guard(what, [&] {
      std::vector<torch::Tensor> one{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      o.timeout = timeout_;
      group_->broadcast(one, o)->wait(timeout_);
    });
  }

  void barrier(const char* what) override {
    guard(what, [&] {
      c10d::BarrierOptions o;
      o.timeout = timeout_;
      group_->barrier(o)->wait(timeout_);
    });
  }

  torch::Tensor all_gather_rows(const torch::Tensor& rows, const char* what) override {
    torch::Tensor result;
    guard(what, [&] {
      // Ranks may hold different numbers of rows (a batch that lost corrupt images):
      // exchange the counts, pad to the largest, gather, then cut each part back.
      auto count = torch::tensor({rows.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(rows.device()));
      auto counts = gather(count);
      int64_t most = 0;
      std::vector<int64_t> n(world_);
      for (int r = 0; r < world_; ++r) most = std::max(most, n[r] = counts[r].template item<int64_t>());
      auto shape = rows.sizes().vec();
      shape[0] = most;
      auto padded = torch::zeros(shape, rows.options());
      if (rows.size(0) > 0) padded.narrow(0, 0, rows.size(0)).copy_(rows);
      auto parts = gather(padded.contiguous());
      std::vector<torch::Tensor> kept;
      for (int r = 0; r < world_; ++r) kept.push_back(parts[r].narrow(0, 0, n[r]));
      result = torch::cat(kept, 0);
    });
    return result;
  }

 private:
  struct Pending final : PendingCollective {
    Pending(C10dCommunicator& c, const char* w) : comm(c), what(w) {}
    void wait() override {
      comm.guard(what, [&] { work->wait(comm.timeout_); });
    }
    C10dCommunicator& comm;
    const char* what;
    c10::intrusive_ptr<c10d::Work> work;
  };

  std::vector<torch::Tensor> gather(const torch::Tensor& t) {
    std::vector<std::vector<torch::Tensor>> out(1);
    for (int r = 0; r < world_; ++r) out[0].push_back(torch::empty_like(t));
    std::vector<torch::Tensor> in{t};
    c10d::AllgatherOptions o;
    o.timeout = timeout_;
    group_->allgather(out, in, o)->wait(timeout_);
    return out[0];
  }

  // One all-reduce per tensor, all in flight before the first wait.
  void reduce(std::vector<torch::Tensor>& ts, c10d::ReduceOp op, const char* what) {
    guard(what, [&] {
      c10d::AllreduceOptions o;
      o.reduceOp = op;
      o.timeout = timeout_;
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      for (auto& t : ts) {
        std::vector<torch::Tensor> one{t};
        works.push_back(group_->allreduce(one, o));
      }
      for (auto& w : works) w->wait(timeout_);
    });
  }

  template <typename F>
  void guard(const char* what, F&& f) {
    try {
      f();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(fmt::format("rank {} of {}: {} failed, another rank has left the job or stalled past the "
                              "{} s timeout ({})",
                              rank_, world_, what, timeout_.count() / 1000, first_line_of(e)));
    }
  }

  c10::intrusive_ptr<Group> group_;
  int rank_, world_;
  std::chrono::milliseconds timeout_;
};

}  // namespace hrvq
