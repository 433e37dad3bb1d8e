#include "code_stats.hpp"

#include <cmath>

namespace hrvq {

CodeStats::CodeStats(std::vector<int64_t> rows_per_layer) {
  for (int64_t r : rows_per_layer) counts_.emplace_back(static_cast<size_t>(r), 0);
}

void CodeStats::add(int layer, const torch::Tensor& global_rows) {
  auto& c = counts_[layer];
  auto bins = torch::bincount(global_rows.reshape({-1}).to(torch::kCPU), {}, static_cast<int64_t>(c.size()));
  auto a = bins.accessor<int64_t, 1>();
  for (int64_t i = 0; i < static_cast<int64_t>(c.size()) && i < a.size(0); ++i) c[i] += static_cast<uint64_t>(a[i]);
}

void CodeStats::set_all_counts(std::vector<std::vector<uint64_t>> counts) {
  if (counts.size() != counts_.size()) throw std::logic_error("CodeStats::set_all_counts: layer count differs");
  for (size_t l = 0; l < counts.size(); ++l)
    if (counts[l].size() != counts_[l].size()) throw std::logic_error("CodeStats::set_all_counts: row count differs");
  counts_ = std::move(counts);
}

void CodeStats::clear() {
  for (auto& c : counts_) std::fill(c.begin(), c.end(), 0);
}

int64_t CodeStats::used(int layer) const {
  int64_t n = 0;
  for (uint64_t v : counts_[layer]) n += v > 0;
  return n;
}

double CodeStats::usage(int layer) const {
  return counts_[layer].empty() ? 0.0 : static_cast<double>(used(layer)) / counts_[layer].size();
}

double CodeStats::perplexity(int layer) const {
  double total = 0;
  for (uint64_t v : counts_[layer]) total += static_cast<double>(v);
  if (total == 0) return 0;
  double h = 0;
  for (uint64_t v : counts_[layer])
    if (v) {
      double p = v / total;
      h -= p * std::log(p);
    }
  return std::exp(h);
}

void add_code_stats(const ModelConfig& config, const std::vector<ResidualQuantizer>& quantizers,
                    const std::vector<torch::Tensor>& maps, CodeStats& stats) {
  for (size_t qi = 0; qi < quantizers.size(); ++qi) {
    const auto& q = quantizers[qi];
    std::vector<torch::Tensor> local;
    for (int i = 0; i < q->layers(); ++i) local.push_back(maps.at(config.map_index(int(qi), i)).reshape({-1}));
    auto global = q->global_from_local(local);
    for (int i = 0; i < q->layers(); ++i) stats.add(config.map_index(int(qi), i), global[i]);
  }
}

}  // namespace hrvq
