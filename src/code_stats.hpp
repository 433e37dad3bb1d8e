// Code usage statistics per layer: how many table rows are used, and perplexity.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "hrvq/config.hpp"
#include "quantizer.hpp"

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
  // Replaces the counts (same layers and rows), e.g. by their sum over the ranks of a job.
  void set_all_counts(std::vector<std::vector<uint64_t>> counts);
  size_t layers() const { return counts_.size(); }

 private:
  std::vector<std::vector<uint64_t>> counts_;
};

// Adds a batch's code maps (the model's map order) to `stats`, as global rows of each
// map's table.
void add_code_stats(const ModelConfig& config, const std::vector<ResidualQuantizer>& quantizers,
                    const std::vector<torch::Tensor>& maps, CodeStats& stats);

}  // namespace hrvq
