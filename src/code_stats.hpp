// Code usage statistics per layer: how many table rows are used, and perplexity.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace hrvq {

class CodeStats {
 public:
  explicit CodeStats(std::vector<int64_t> rows_per_layer);
  void add(int layer, const torch::Tensor& global_rows);
  void clear();
  // Fraction of rows picked at least once.
  double usage(int layer) const;
  int64_t used(int layer) const;
  // exp(entropy) of the row distribution: the effective number of codes in use.
  double perplexity(int layer) const;
  const std::vector<uint64_t>& counts(int layer) const { return counts_[layer]; }
  const std::vector<std::vector<uint64_t>>& all_counts() const { return counts_; }
  size_t layers() const { return counts_.size(); }

 private:
  std::vector<std::vector<uint64_t>> counts_;
};

}  // namespace hrvq
