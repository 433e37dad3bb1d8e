#include "quantizer.hpp"

#include <fmt/format.h>

#include "code_search.hpp"

namespace hrvq {

namespace F = torch::nn::functional;

torch::Tensor QuantizeResult::sum(int k) const {
  int n = static_cast<int>(vectors.size());
  if (k <= 0 || k > n) k = n;
  torch::Tensor total = vectors[0];
  for (int i = 1; i < k; ++i) total = total + vectors[i];
  return total;
}

ResidualQuantizerImpl::ResidualQuantizerImpl(QuantizerKind kind, int layers, int codes, int dim, double beta,
                                             double beta_ec, bool ema, double ema_decay)
    : kind_(kind), layers_(kind == QuantizerKind::Vq ? 1 : layers), codes_(codes), dim_(dim), beta_(beta),
      beta_ec_(beta_ec), ema_(ema), ema_decay_(ema_decay) {
  int64_t rows = 1;
  for (int i = 0; i < layers_; ++i) {
    rows = kind == QuantizerKind::Hr ? rows * codes : codes;
    // Small uniform init as in VQ-VAE; the first training batch replaces it from data.
    auto table = torch::empty({rows, dim}).uniform_(-1.0 / codes, 1.0 / codes);
    if (ema_) {
      codebooks_.push_back(register_buffer(fmt::format("codebook_{}", i), table));
      ema_count_.push_back(register_buffer(fmt::format("ema_count_{}", i), torch::ones({rows})));
      ema_sum_.push_back(register_buffer(fmt::format("ema_sum_{}", i), table.clone()));
    } else {
      codebooks_.push_back(register_parameter(fmt::format("codebook_{}", i), table));
    }
    last_used_.push_back(register_buffer(fmt::format("last_used_{}", i), torch::zeros({rows}, torch::kInt64)));
  }
  initialized_ = register_buffer("initialized", torch::zeros({1}, torch::kInt64));
}

torch::Tensor ResidualQuantizerImpl::select_codes(int layer, const torch::Tensor& residual,
                                                  const torch::Tensor& parent) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor& table = codebooks_[layer];
  int64_t groups = table.size(0) / codes_;
  if (fused_search_applies(table, residual, codes_)) return nearest_codes(table, table.pow(2).sum(1), residual, parent, codes_);
  if (groups == 1) {
    // One codebook for everybody: matrix products, over blocks of codes when the
    // codebook is large, so that the (N, block) distances stay in cache instead of an
    // (N, K) matrix going through memory several times (K = 4096 searched 2.5x faster).
    constexpr int64_t kBlock = 128;
    const auto norms = table.pow(2).sum(1);
    if (table.size(0) <= kBlock) return (norms.unsqueeze(0) - 2 * torch::matmul(residual, table.t())).argmin(1);
    torch::Tensor best_value, best_index;
    for (int64_t start = 0; start < table.size(0); start += kBlock) {
      const int64_t len = std::min(kBlock, table.size(0) - start);
      auto dist = norms.narrow(0, start, len).unsqueeze(0) - 2 * torch::matmul(residual, table.narrow(0, start, len).t());
      auto [value, index] = dist.min(1);
      if (!best_value.defined()) {
        best_value = value;
        best_index = index;
        continue;
      }
      // Strictly smaller only: a tie keeps the earlier code, as one argmin over all would.
      auto better = value < best_value;
      best_value = torch::where(better, value, best_value);
      best_index = torch::where(better, index + start, best_index);
    }
    return best_index;
  }
  // Each position sees only the m rows of its parent's codebook: gather them, then m dot
  // products per position. ||x||^2 is the same for all m candidates and is left out.
  auto candidates = table.view({groups, codes_, dim_}).index_select(0, parent);      // (N, m, D)
  auto norms = table.pow(2).sum(1).view({groups, codes_}).index_select(0, parent);   // (N, m)
  auto dots = torch::bmm(candidates, residual.unsqueeze(2)).squeeze(2);             // (N, m)
  return (norms - 2 * dots).argmin(1);
}

void ResidualQuantizerImpl::init_layer_from_data(int layer, const torch::Tensor& residual, const torch::Tensor& parent) {
  torch::NoGradGuard no_grad;
  auto& table = codebooks_[layer];
  int64_t rows = table.size(0), n = residual.size(0);
  int64_t groups = rows / codes_;
  // For every row pick a residual routed to the same parent (any residual if the parent
  // got none); a little noise keeps siblings that drew the same vector apart.
  auto parents = parent.cpu();
  std::vector<std::vector<int64_t>> by_parent(groups);
  auto pa = parents.accessor<int64_t, 1>();
  for (int64_t k = 0; k < n; ++k) by_parent[groups == 1 ? 0 : pa[k]].push_back(k);
  std::vector<int64_t> pick(rows);
  std::mt19937_64 rng(static_cast<uint64_t>(layer) * 7919 + rows);
  for (int64_t r = 0; r < rows; ++r) {
    const auto& pool = by_parent[r / codes_];
    pick[r] = pool.empty() ? static_cast<int64_t>(rng() % n) : pool[rng() % pool.size()];
  }
  auto idx = torch::from_blob(pick.data(), {rows}, torch::kInt64).clone().to(residual.device());
  auto chosen = residual.index_select(0, idx);
  auto noise = torch::randn_like(chosen) * (chosen.std().clamp_min(1e-6) * 0.01);
  table.copy_(chosen + noise);
  if (ema_) {
    ema_count_[layer].fill_(1.0);
    ema_sum_[layer].copy_(table);
  }
}

QuantizeResult ResidualQuantizerImpl::forward(const torch::Tensor& z) {
  QuantizeResult out;
  bool init_now = is_training() && initialized_.item<int64_t>() == 0;
  auto xi = z;
  auto parent = torch::zeros({z.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(z.device()));
  auto mse = [](const torch::Tensor& a, const torch::Tensor& b) { return F::mse_loss(a, b); };
  torch::Tensor codebook_loss = torch::zeros({}, z.options());
  torch::Tensor commitment_loss = torch::zeros({}, z.options());
  for (int i = 0; i < layers_; ++i) {
    auto residual = xi.detach();
    if (init_now) init_layer_from_data(i, residual, parent);
    auto local = select_codes(i, residual, parent);
    auto global = kind_ == QuantizerKind::Hr ? parent * codes_ + local : local;
    auto e = codebooks_[i].index_select(0, global);  // gradient reaches only the picked rows
    // eq. 6 per layer: the codebook term moves e^i towards sg[xi^(i-1)], the commitment
    // term moves xi^(i-1) (encoder output and the earlier layers' codes) towards sg[e^i].
    if (!ema_) codebook_loss = codebook_loss + mse(e, residual);
    commitment_loss = commitment_loss + beta_ * mse(xi, e.detach());
    out.vectors.push_back(e);
    out.local.push_back(local);
    out.global.push_back(global);
    out.residuals.push_back(residual);
    xi = xi - e;  // eq. 3: the next layer quantizes what is left
    if (kind_ == QuantizerKind::Hr) parent = global;
  }
  if (init_now) initialized_.fill_(1);
  if (kind_ != QuantizerKind::Vq) {
    // eq. 5: the summed code e_C against the encoder output, both ways.
    auto ec = out.sum();
    if (!ema_) codebook_loss = codebook_loss + mse(ec, z.detach());
    commitment_loss = commitment_loss + beta_ec_ * mse(z, ec.detach());
  }
  out.codebook_loss = codebook_loss;
  out.commitment_loss = commitment_loss;
  out.loss = codebook_loss + commitment_loss;
  return out;
}

std::vector<torch::Tensor> ResidualQuantizerImpl::encode_codes(const torch::Tensor& z, int layers) const {
  torch::NoGradGuard no_grad;
  if (layers <= 0 || layers > layers_) layers = layers_;
  std::vector<torch::Tensor> tables(codebooks_.begin(), codebooks_.begin() + layers), norms;
  for (const auto& t : tables) norms.push_back(t.pow(2).sum(1));
  if (fused_search_applies(tables[0], z, codes_))
    return greedy_tree_codes(tables, norms, z, codes_, kind_ == QuantizerKind::Hr);
  std::vector<torch::Tensor> local;
  auto residual = z;
  auto parent = torch::zeros({z.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(z.device()));
  for (int i = 0; i < layers; ++i) {
    local.push_back(select_codes(i, residual, parent));
    auto global = kind_ == QuantizerKind::Hr ? parent * codes_ + local.back() : local.back();
    residual = residual - codebooks_[i].index_select(0, global);
    if (kind_ == QuantizerKind::Hr) parent = global;
  }
  return local;
}

std::vector<torch::Tensor> ResidualQuantizerImpl::global_from_local(const std::vector<torch::Tensor>& local) const {
  std::vector<torch::Tensor> global;
  torch::Tensor parent;
  for (size_t i = 0; i < local.size(); ++i) {
    auto g = (kind_ == QuantizerKind::Hr && i > 0) ? parent * codes_ + local[i] : local[i];
    global.push_back(g);
    parent = g;
  }
  return global;
}

torch::Tensor ResidualQuantizerImpl::lookup(const std::vector<torch::Tensor>& local, int k) const {
  int n = static_cast<int>(local.size());
  if (k <= 0 || k > n) k = n;
  auto global = global_from_local(local);
  torch::Tensor total;
  for (int i = 0; i < k; ++i) {
    auto e = codebooks_[i].index_select(0, global[i]);
    total = i == 0 ? e : total + e;
  }
  return total;
}

torch::Tensor ResidualQuantizerImpl::lookup(const std::vector<torch::Tensor>& local,
                                            const std::vector<torch::Tensor>& keep) const {
  // A position absent from a layer holds 0 there, so its global index is still a valid
  // row; the layer's vector is then masked out rather than looked up conditionally.
  auto global = global_from_local(local);
  torch::Tensor total;
  for (size_t i = 0; i < local.size(); ++i) {
    auto e = codebooks_[i].index_select(0, global[i]) * keep[i].unsqueeze(1).to(codebooks_[i].scalar_type());
    total = i == 0 ? e : total + e;
  }
  return total;
}

void ResidualQuantizerImpl::ema_update(const QuantizeResult& result) {
  if (!ema_) return;
  ema_apply(ema_batch_stats(result));
}

std::vector<torch::Tensor> ResidualQuantizerImpl::ema_batch_stats(const QuantizeResult& result) const {
  std::vector<torch::Tensor> stats;
  if (!ema_) return stats;
  torch::NoGradGuard no_grad;
  for (int i = 0; i < layers_; ++i) {
    const auto& table = codebooks_[i];
    stats.push_back(torch::zeros({table.size(0)}, table.options())
                        .index_add_(0, result.global[i], torch::ones({result.global[i].size(0)}, table.options())));
    stats.push_back(torch::zeros_like(table).index_add_(0, result.global[i], result.residuals[i]));
  }
  return stats;
}

void ResidualQuantizerImpl::ema_apply(const std::vector<torch::Tensor>& stats) {
  if (!ema_) return;
  torch::NoGradGuard no_grad;
  for (int i = 0; i < layers_; ++i) {
    auto& table = codebooks_[i];
    int64_t rows = table.size(0);
    ema_count_[i].mul_(ema_decay_).add_(stats[2 * i], 1 - ema_decay_);
    ema_sum_[i].mul_(ema_decay_).add_(stats[2 * i + 1], 1 - ema_decay_);
    // Laplace smoothing within each parent's codebook keeps empty rows finite.
    int64_t groups = rows / codes_;
    auto count = ema_count_[i].view({groups, codes_});
    auto total = count.sum(1, true);
    const double eps = 1e-5;
    auto smoothed = (count + eps) / (total + codes_ * eps) * total;
    table.copy_(ema_sum_[i] / smoothed.view({rows, 1}));
  }
}

void ResidualQuantizerImpl::mark_used(const QuantizeResult& result, int64_t step) {
  torch::NoGradGuard no_grad;
  for (int i = 0; i < layers_; ++i) last_used_[i].index_fill_(0, result.global[i], step);
}

std::vector<torch::Tensor> ResidualQuantizerImpl::used_rows(const QuantizeResult& result) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> used;
  for (int i = 0; i < layers_; ++i)
    used.push_back(torch::zeros({codebooks_[i].size(0)}, codebooks_[i].options()).index_fill_(0, result.global[i], 1.0));
  return used;
}

void ResidualQuantizerImpl::mark_used_rows(const std::vector<torch::Tensor>& used, int64_t step) {
  torch::NoGradGuard no_grad;
  for (int i = 0; i < layers_; ++i) last_used_[i].masked_fill_(used[i] > 0, step);
}

bool ResidualQuantizerImpl::has_dead(int64_t step, int64_t after) const {
  if (after <= 0) return false;
  for (int i = 0; i < layers_; ++i)
    if ((step - last_used_[i] > after).any().item<bool>()) return true;
  return false;
}

int64_t ResidualQuantizerImpl::reseed_dead(const QuantizeResult& result, int64_t step, int64_t after,
                                           std::mt19937_64& rng) {
  if (after <= 0) return 0;
  torch::NoGradGuard no_grad;
  int64_t reset = 0;
  for (int i = 0; i < layers_; ++i) {
    auto dead = (step - last_used_[i] > after).nonzero().view({-1}).cpu();
    if (dead.numel() == 0) continue;
    auto& table = codebooks_[i];
    int64_t groups = table.size(0) / codes_;
    auto parents = (kind_ == QuantizerKind::Hr && i > 0 ? result.global[i - 1] : torch::zeros_like(result.local[i])).cpu();
    auto pa = parents.accessor<int64_t, 1>();
    std::vector<std::vector<int64_t>> by_parent(groups);
    for (int64_t k = 0; k < parents.size(0); ++k) by_parent[groups == 1 ? 0 : pa[k]].push_back(k);
    auto da = dead.accessor<int64_t, 1>();
    for (int64_t j = 0; j < dead.size(0); ++j) {
      int64_t row = da[j];
      // A recent residual routed to the same parent: the reset code can be picked there.
      const auto& pool = by_parent[row / codes_];
      if (pool.empty()) continue;
      int64_t src = pool[rng() % pool.size()];
      table[row].copy_(result.residuals[i][src]);
      if (ema_) {
        ema_count_[i][row].fill_(1.0);
        ema_sum_[i][row].copy_(result.residuals[i][src]);
      }
      last_used_[i][row].fill_(step);
      ++reset;
    }
  }
  return reset;
}

}  // namespace hrvq
