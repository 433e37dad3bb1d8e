// hrvq train-prior, sample, eval gen: an autoregressive prior over a trained model's code
// maps (gated PixelCNN, layer 1 first, each later layer conditioned on the layers before
// it), sampling images from it, and the FID of those samples. Torch-free interface.
//
// A prior file is a model-file container (.hrvqm) whose metadata keys all start with
// "prior."; it records the fingerprint of the autoencoder it was trained for, and using
// it with any other model is an error.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hrvq/dataset.hpp"
#include "hrvq/image.hpp"

namespace hrvq {

// Size of each layer's network (one gated PixelCNN per code layer).
struct PriorConfig {
  int channels = 48;       // width of the vertical and horizontal stacks
  int depth = 6;           // gated layers
  int kernel = 3;          // odd; the vertical stack sees kernel/2 rows up, kernel/2 columns each side
  int embed = 16;          // embedding size of an earlier layer's code in the conditioning input
  int cond_channels = 32;  // width of the (non-causal) conditioning network
  int cond_blocks = 2;     // its residual blocks
  void validate() const;   // throws hrvq::Error
};

// Held-out negative log-likelihood, and the same codes under the model file's count-based
// context model (what the entropy coder uses today).
struct PriorEvaluation {
  int64_t images = 0;
  std::vector<int64_t> codes_per_image;       // per layer: h_i * w_i
  std::vector<double> bits_per_code;          // prior, per layer
  double total_bits_per_code = 0;             // prior, over all codes
  double bits_per_image = 0;                  // prior
  double raw_bits_per_image = 0;              // sum of codes_per_image * log2(m)
  bool has_counts = false;                    // the model file holds code counts
  std::vector<double> count_bits_per_code;    // count model, add-one smoothed, per layer
  double count_bits_per_image = 0;            // the same, per image
  double count_coder_bits_per_image = 0;      // under the 16-bit quantized tables rANS codes with
};

struct PriorTrainOptions {
  std::string model;               // the autoencoder (.hrvqm)
  std::string data;
  DatasetKind kind = DatasetKind::Auto;
  Subset subset;
  // Held-out codes: items `holdout` of `data` (when has_holdout), or all of `val_data`.
  bool has_holdout = false;
  Subset holdout;
  std::string val_data;
  std::string output;              // prior file
  std::string checkpoint;          // default OUTPUT.ckpt
  std::string log_path;            // default OUTPUT.log.jsonl
  PriorConfig prior;
  int64_t steps = 2000;
  int batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 1;
  int64_t checkpoint_every = 0;    // 0: only at the end
  int64_t log_every = 50;
  bool resume = false;
  std::string device = "auto";
  int loader_threads = 2;
  bool quiet = false;
  int64_t stop_after = -1;         // stop as on Ctrl-C after this step (tests)
  bool handle_sigint = true;
  // Data-parallel training under torchrun, as for hrvq train (TrainOptions).
  std::string dist_backend = "auto";
  double dist_timeout_s = 300;
  // The gradient all-reduce started bucket by bucket during the backward pass (on) or
  // after it (off); the weights are the same bit for bit. auto: on for CUDA (NCCL runs
  // beside the kernels), off on the CPU, where Gloo's threads take the cores the backward
  // pass needs (measured: docs/distributed.md).
  std::string dist_overlap = "auto";
  size_t dist_bucket_bytes = 0;  // gradient bucket size; 0: the strategy's own (tests)
};

struct PriorTrainReport {
  int64_t steps = 0;
  int64_t train_images = 0;
  double seconds = 0;
  double final_bits_per_code = 0;  // last logging window, training codes
  bool interrupted = false;
  bool evaluated = false;          // held-out codes were given
  PriorEvaluation heldout;
  int rank = 0, world_size = 1;
};

// Throws hrvq::Error on bad input or a non-finite loss (the last checkpoint is kept).
PriorTrainReport train_prior(const PriorTrainOptions& options);

// NLL of an existing prior on the codes of `data` (items `subset`).
PriorEvaluation evaluate_prior(const std::string& model, const std::string& prior, const std::string& data,
                               DatasetKind kind, const Subset& subset, const std::string& device = "auto",
                               int batch_size = 256);

std::string prior_evaluation_table(const PriorEvaluation& e);
std::string prior_evaluation_json(const PriorEvaluation& e);

struct SampleOptions {
  std::string model, prior;
  int64_t count = 64;
  uint64_t seed = 1;
  double temperature = 1.0;  // > 0; logits are divided by it
  int batch_size = 64;
  std::string device = "auto";
  // Called after each batch with the images sampled so far.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct SampleReport {
  int64_t images = 0;
  double seconds = 0;              // sampling and decoding, excluding loading
  double images_per_second = 0;
};

// Ancestral sampling, layer by layer in raster order, then decoding. Images reach `sink`
// one batch at a time, in order. The same options on the same device give the same
// images: every random draw comes from one generator seeded with `seed`.
SampleReport sample_images(const SampleOptions& options, const std::function<void(std::vector<Image>&&)>& sink);

// A grid of equally sized images, `columns` per row, 2-pixel white gaps.
Image image_grid(const std::vector<Image>& images, int columns);

struct GenFidOptions {
  SampleOptions sample;            // count = number of generated images
  std::string reference;           // dataset path or statistics file (eval fid-stats)
  DatasetKind kind = DatasetKind::Auto;
  Subset subset;
  std::string inception;           // weights; empty: the FID module's search
  int fid_batch = 50;
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
};

struct GenFidReport {
  double fid = 0;
  int64_t generated = 0, reference = 0;
  double sample_seconds = 0, sample_images_per_second = 0;
  double seconds = 0;
};

GenFidReport evaluate_generation_fid(const GenFidOptions& options);

}  // namespace hrvq
