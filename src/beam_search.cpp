#include "beam_search.hpp"

#include <algorithm>

namespace hrvq {

std::vector<torch::Tensor> beam_search(const ResidualQuantizerImpl& q, const torch::Tensor& z, int width, int layers,
                                       const CodeCosts& costs) {
  torch::NoGradGuard no_grad;
  const int64_t N = z.size(0), D = z.size(1), m = q.codes();
  const bool hr = q.kind() == QuantizerKind::Hr;
  layers = std::clamp(layers, 1, q.layers());
  width = std::max(width, 1);
  auto residual = z.unsqueeze(1);  // (N, B, D): what each live path leaves
  auto rows = torch::zeros({N, 1}, torch::TensorOptions().dtype(torch::kInt64).device(z.device()));
  std::vector<torch::Tensor> locals, from_beam;  // per layer (N, B)
  const bool rdo = costs.active();
  auto spent = torch::zeros({N, 1}, z.options());  // lambda * bits of each live path so far
  for (int i = 0; i < layers; ++i) {
    const torch::Tensor& table = q.codebook(i);
    const int64_t B = residual.size(1);
    torch::Tensor dots, code_norms;
    if (hr && i > 0) {
      // Each path searches the m children of the row it picked last.
      auto candidates = table.view({-1, m, D}).index_select(0, rows.reshape({-1})).view({N * B, m, D});
      dots = torch::bmm(candidates, residual.reshape({N * B, D, 1})).view({N, B, m});
      code_norms = candidates.pow(2).sum(2).view({N, B, m});
    } else {
      dots = torch::matmul(residual, table.t());          // (N, B, m)
      code_norms = table.pow(2).sum(1).view({1, 1, m});
    }
    auto dist = residual.pow(2).sum(2, true) - 2 * dots + code_norms;  // (N, B, m)
    torch::Tensor step_cost;
    if (rdo) {
      // Each candidate's bits: row parent*m + local of this layer's table (hr), or local.
      const auto& bits = costs.bits.at(static_cast<size_t>(i)).to(z.device());
      auto candidate_rows = hr && i > 0 ? (rows * m).unsqueeze(2) + torch::arange(m, rows.options()).view({1, 1, m})
                                        : torch::arange(m, rows.options()).view({1, 1, m}).expand({N, B, m});
      step_cost = costs.lambda * bits.index_select(0, candidate_rows.reshape({-1})).view({N, B, m});
      dist = dist + spent.unsqueeze(2) + step_cost;
    }
    dist = dist.reshape({N, B * m});
    const int64_t keep = std::min<int64_t>(width, B * m);
    auto best = std::get<1>(dist.topk(keep, 1, /*largest=*/false, /*sorted=*/true));  // (N, keep)
    auto beam = best.div(m, "floor"), local = best.remainder(m);
    auto picked_rows = hr && i > 0 ? rows.gather(1, beam) * m + local : local;
    auto vectors = table.index_select(0, picked_rows.reshape({-1})).view({N, keep, D});
    residual = residual.gather(1, beam.unsqueeze(2).expand({N, keep, D})) - vectors;
    if (rdo) spent = spent.gather(1, beam) + step_cost.reshape({N, B * m}).gather(1, best);
    rows = picked_rows;
    locals.push_back(local);
    from_beam.push_back(beam);
  }
  // topk is sorted, so column 0 of the last layer is the best complete path: trace it back.
  std::vector<torch::Tensor> out(static_cast<size_t>(layers));
  auto at = torch::zeros({N, 1}, rows.options());
  for (int i = layers - 1; i >= 0; --i) {
    out[i] = locals[i].gather(1, at).squeeze(1);
    at = from_beam[i].gather(1, at);
  }
  return out;
}

}  // namespace hrvq
