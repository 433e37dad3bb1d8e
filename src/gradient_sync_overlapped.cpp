// The overlapped strategy of GradientSync: a hook on every parameter copies its gradient
// into its bucket's flat buffer as autograd produces it, and a bucket's all-reduce starts
// as soon as all of its parameters have arrived. Buckets are laid out in the reverse
// order of the parameters (the decoder's last layers get their gradients first) and
// started strictly in bucket order, so every rank issues the same collectives in the same
// order whatever the timing of its hooks. A bucket holding a parameter that gets no
// gradient this step (a layer that dropout skipped) starts in average(), with zeros in
// that parameter's place, as the after-backward strategy sends it.
#include <chrono>

#include "gradient_sync.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

class OverlappedGradientSync final : public GradientSync {
 public:
  OverlappedGradientSync(std::vector<torch::Tensor> params, Communicator& comm, size_t bucket_bytes)
      : GradientSync(std::move(params), true, bucket_bytes), comm_(comm) {
    place_.resize(params_.size());
    for (size_t b = 0; b < buckets_.size(); ++b) {
      Bucket bucket;
      int64_t offset = 0;
      for (size_t i : buckets_[b]) {
        place_[i] = {b, offset};
        offset += params_[i].numel();
      }
      bucket.flat = torch::zeros({offset}, params_[buckets_[b].front()].options().requires_grad(false));
      state_.push_back(std::move(bucket));
    }
    arrived_.assign(params_.size(), 0);
    for (size_t i = 0; i < params_.size(); ++i)
      hooks_.push_back(params_[i].register_hook([this, i](torch::Tensor grad) { arrive(i, grad); }));
  }

  ~OverlappedGradientSync() override {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].remove_hook(hooks_[i]);
  }

  void average() override {
    auto start = std::chrono::steady_clock::now();
    torch::NoGradGuard no_grad;
    for (; next_ < state_.size(); ++next_) {
      for (size_t i : buckets_[next_])
        if (!arrived_[i]) slot(i).zero_();
      launch(next_);
    }
    const double scale = 1.0 / comm_.world_size();
    for (size_t b = 0; b < state_.size(); ++b) {
      state_[b].pending->wait();
      state_[b].pending.reset();
      for (size_t i : buckets_[b]) {
        auto& g = params_[i].mutable_grad();
        if (g.defined()) g.copy_(slot(i).view_as(g)).mul_(scale);
      }
      state_[b].arrived = 0;
    }
    std::fill(arrived_.begin(), arrived_.end(), 0);
    next_ = 0;
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  struct Bucket {
    torch::Tensor flat;
    size_t arrived = 0;
    std::unique_ptr<PendingCollective> pending;
  };
  struct Place {
    size_t bucket = 0;
    int64_t offset = 0;
  };

  torch::Tensor slot(size_t i) { return state_[place_[i].bucket].flat.narrow(0, place_[i].offset, params_[i].numel()); }

  // Runs inside backward(), once per parameter that receives a gradient: a leaf's hook
  // sees the sum of all its uses.
  void arrive(size_t i, const torch::Tensor& grad) {
    if (!grad.defined()) return;
    torch::NoGradGuard no_grad;
    if (arrived_[i]) throw Error("gradient sync: a parameter received two gradients in one backward pass");
    slot(i).copy_(grad.reshape({-1}));
    arrived_[i] = 1;
    ++state_[place_[i].bucket].arrived;
    while (next_ < state_.size() && state_[next_].arrived == buckets_[next_].size()) launch(next_++);
  }

  void launch(size_t b) { state_[b].pending = comm_.start_all_reduce_sum(state_[b].flat, "gradient all-reduce"); }

  Communicator& comm_;
  std::vector<Bucket> state_;      // per bucket
  std::vector<Place> place_;       // per parameter
  std::vector<uint8_t> arrived_;   // per parameter, this step
  std::vector<unsigned> hooks_;    // per parameter
  size_t next_ = 0;                // the first bucket not started this step
};

}  // namespace

std::unique_ptr<GradientSync> overlapped_gradient_sync(std::vector<torch::Tensor> params, Communicator& comm,
                                                       size_t bucket_bytes) {
  return std::make_unique<OverlappedGradientSync>(std::move(params), comm, bucket_bytes);
}

}  // namespace hrvq
