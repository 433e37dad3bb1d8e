// Residual vector quantizers over flattened latent vectors (N, D):
//   hr  - the paper's hierarchy: layer i has m^(i-1) codebooks of m codes; the code a
//         position picked at layer i-1 selects the codebook it searches at layer i.
//         Layer i is one table of m^i rows; a position whose parent has global index p
//         searches rows [p*m, p*m+m), so n*m distances per position, never m^n.
//   rvq - flat residual VQ: every layer one codebook of m codes (the ablation).
//   vq  - one codebook of K codes (VQ-VAE, eq. 1-2).
#pragma once
#include <random>
#include <vector>

#include <torch/torch.h>

#include "hrvq/config.hpp"

namespace hrvq {

struct QuantizeResult {
  std::vector<torch::Tensor> vectors;    // e^i (N, D), differentiable w.r.t. the codebooks
  std::vector<torch::Tensor> local;      // local code per layer (N) int64, 0..m-1
  std::vector<torch::Tensor> global;     // row of layer i's table (N) int64
  std::vector<torch::Tensor> residuals;  // xi^(i-1) (N, D), detached: what layer i quantized
  torch::Tensor loss;                    // eq. 5 without the reconstruction term (eq. 2 for vq)
  torch::Tensor codebook_loss, commitment_loss;  // its parts, for logging
  // e_C from the first k layers (k = 0: all).
  torch::Tensor sum(int k = 0) const;
};

class ResidualQuantizerImpl : public torch::nn::Module {
 public:
  ResidualQuantizerImpl(QuantizerKind kind, int layers, int codes, int dim, double beta, double beta_ec, bool ema,
                        double ema_decay);

  // z: (N, D). In training mode with `step` >= 0 it also initialises never-trained codebooks
  // from the data (each row from a residual routed to its parent).
  QuantizeResult forward(const torch::Tensor& z);
  // Inference: the local codes (N each) of the first `layers` layers (0: all) of z (N, D)
  // by the greedy search, without the losses and residuals forward() keeps for training.
  std::vector<torch::Tensor> encode_codes(const torch::Tensor& z, int layers = 0) const;
  // Looks up and sums the code vectors of the first k layers from local codes (N) per layer.
  torch::Tensor lookup(const std::vector<torch::Tensor>& local, int k) const;
  // The same where layer i counts only at the positions with keep[i] true (a depth
  // map's tiles that stop before it): keep[i] is a bool tensor shaped like local[i].
  torch::Tensor lookup(const std::vector<torch::Tensor>& local, const std::vector<torch::Tensor>& keep) const;
  // Global rows from local codes (for hr, parent * m + local).
  std::vector<torch::Tensor> global_from_local(const std::vector<torch::Tensor>& local) const;

  // Training-time codebook maintenance, all under no_grad. Each step's statistics come
  // apart from their use so that a data-parallel job can sum them over its ranks first.
  void ema_update(const QuantizeResult& result);
  // Per layer: how often each row was picked (rows) and the sum of the residuals that
  // picked it (rows, D); empty when the codebooks are not EMA-trained.
  std::vector<torch::Tensor> ema_batch_stats(const QuantizeResult& result) const;
  void ema_apply(const std::vector<torch::Tensor>& stats);
  // Reseeds codes unused for more than `after` steps; returns how many were reset.
  int64_t reseed_dead(const QuantizeResult& result, int64_t step, int64_t after, std::mt19937_64& rng);
  // Whether reseed_dead would find a code to reset (no residuals needed).
  bool has_dead(int64_t step, int64_t after) const;
  void mark_used(const QuantizeResult& result, int64_t step);
  // Per layer, 1 where a row was picked in `result` (float, rows); mark_used_rows then
  // stamps those rows, so usage summed over ranks can be applied.
  std::vector<torch::Tensor> used_rows(const QuantizeResult& result) const;
  void mark_used_rows(const std::vector<torch::Tensor>& used, int64_t step);

  int layers() const { return layers_; }
  int codes() const { return codes_; }
  int dim() const { return dim_; }
  QuantizerKind kind() const { return kind_; }
  const torch::Tensor& codebook(int layer) const { return codebooks_[layer]; }
  bool initialized() const { return initialized_.item<int64_t>() != 0; }

 private:
  // The m candidate rows each position searches at `layer`, given its parent rows.
  torch::Tensor select_codes(int layer, const torch::Tensor& residual, const torch::Tensor& parent) const;
  void init_layer_from_data(int layer, const torch::Tensor& residual, const torch::Tensor& parent);

  QuantizerKind kind_;
  int layers_, codes_, dim_;
  double beta_, beta_ec_;
  bool ema_;
  double ema_decay_;
  std::vector<torch::Tensor> codebooks_;
  std::vector<torch::Tensor> ema_count_, ema_sum_;  // EMA cluster sizes and vector sums
  std::vector<torch::Tensor> last_used_;            // step each row was last picked
  torch::Tensor initialized_;
};
TORCH_MODULE(ResidualQuantizer);

}  // namespace hrvq
