#include "code_search.hpp"

#include <ATen/Parallel.h>

#include <limits>

namespace hrvq {

namespace {

// Positions per parallel chunk: enough work per task that the pool's overhead vanishes.
constexpr int64_t kGrain = 256;

// Index of the row of rows[0..codes) (each `dim` floats) minimising norm - 2 row.x.
inline int64_t argmin_row(const float* rows, const float* norms, int64_t codes, int64_t dim, const float* x) {
  int64_t best = 0;
  float best_d = std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < codes; ++r) {
    const float* e = rows + r * dim;
    float dot = 0.f;
    for (int64_t k = 0; k < dim; ++k) dot += e[k] * x[k];
    const float d = norms[r] - 2.f * dot;
    if (d < best_d) {  // strict: ties keep the lowest index, as torch::argmin
      best_d = d;
      best = r;
    }
  }
  return best;
}

}  // namespace

bool fused_search_applies(const torch::Tensor& table, const torch::Tensor& residual, int64_t codes) {
  return codes <= kFusedMaxCodes && table.device().is_cpu() && residual.device().is_cpu() &&
         table.scalar_type() == torch::kFloat32 && residual.scalar_type() == torch::kFloat32 && table.dim() == 2 &&
         residual.dim() == 2 && table.size(1) == residual.size(1);
}

torch::Tensor nearest_codes(const torch::Tensor& table_in, const torch::Tensor& norms_in, const torch::Tensor& residual_in,
                            const torch::Tensor& parent_in, int64_t codes) {
  auto table = table_in.contiguous();
  auto norms = norms_in.contiguous();
  auto residual = residual_in.contiguous();
  const int64_t n = residual.size(0), dim = residual.size(1);
  const bool single = table.size(0) == codes;
  torch::Tensor parent = single ? torch::Tensor() : parent_in.to(torch::kInt64).contiguous();
  auto out = torch::empty({n}, torch::kInt64);
  const float* t = table.data_ptr<float>();
  const float* nr = norms.data_ptr<float>();
  const float* x = residual.data_ptr<float>();
  const int64_t* p = single ? nullptr : parent.data_ptr<int64_t>();
  int64_t* o = out.data_ptr<int64_t>();
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t base = single ? 0 : p[i] * codes;
      o[i] = argmin_row(t + base * dim, nr + base, codes, dim, x + i * dim);
    }
  });
  return out;
}

std::vector<torch::Tensor> greedy_tree_codes(const std::vector<torch::Tensor>& tables_in,
                                             const std::vector<torch::Tensor>& norms_in, const torch::Tensor& z_in,
                                             int64_t codes, bool hierarchical) {
  const int64_t layers = static_cast<int64_t>(tables_in.size());
  auto z = z_in.contiguous();
  const int64_t n = z.size(0), dim = z.size(1);
  std::vector<torch::Tensor> tables, norms, out;
  std::vector<const float*> t, nr;
  std::vector<int64_t*> o;
  for (int64_t l = 0; l < layers; ++l) {
    tables.push_back(tables_in[l].contiguous());
    norms.push_back(norms_in[l].contiguous());
    out.push_back(torch::empty({n}, torch::kInt64));
    t.push_back(tables.back().data_ptr<float>());
    nr.push_back(norms.back().data_ptr<float>());
    o.push_back(out.back().data_ptr<int64_t>());
  }
  const float* zp = z.data_ptr<float>();
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    std::vector<float> residual(static_cast<size_t>(dim));
    for (int64_t i = begin; i < end; ++i) {
      std::copy(zp + i * dim, zp + (i + 1) * dim, residual.begin());
      int64_t parent = 0;  // global row picked at the previous layer (hr)
      for (int64_t l = 0; l < layers; ++l) {
        const int64_t base = hierarchical ? parent * codes : 0;
        const int64_t local = argmin_row(t[l] + base * dim, nr[l] + base, codes, dim, residual.data());
        o[l][i] = local;
        const float* e = t[l] + (base + local) * dim;
        for (int64_t k = 0; k < dim; ++k) residual[k] -= e[k];
        parent = base + local;
      }
    }
  });
  return out;
}

}  // namespace hrvq
