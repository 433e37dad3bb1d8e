// hrvq train: trains an autoencoder on a dataset and writes a model file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "hrvq/config.hpp"
#include "hrvq/precision.hpp"
#include "hrvq/dataset.hpp"

namespace hrvq {

struct TrainOptions {
  std::string data;
  DatasetKind kind = DatasetKind::Auto;
  Subset subset;
  ModelConfig model;
  TrainConfig train;
  std::string output;            // the final model file (.hrvqm)
  std::string checkpoint;        // default: OUTPUT.ckpt
  std::string log_path;          // JSONL log; default: OUTPUT.log.jsonl
  std::string grid_path;         // reconstruction grid PNG; default: OUTPUT.grid.png
  bool resume = false;           // continue from the checkpoint
  // With resume: train.steps was given by the user, so the run ends there (raised or
  // lowered, but not below the checkpoint's step). Otherwise a resumed run keeps the
  // larger of its own step count and train.steps.
  bool steps_explicit = false;
  std::string init_from;         // start from this model's matching weights (not its quantizer)
  std::string device = "auto";
  // Network precision: bf16 runs the encoder and decoder under autocast (oneDNN on the
  // CPU, or CUDA) with fp32 weights, optimizer and quantizer. `amp` is the older name of
  // bf16 and applies on CUDA only.
  Precision precision = Precision::Fp32;
  bool amp = false;
  int loader_threads = 2;
  bool quiet = false;            // no progress lines on stderr
  int64_t stop_after = -1;       // stop (as on Ctrl-C) after this step; for tests
  bool handle_sigint = true;
  // Data-parallel training, when launched by torchrun (RANK and WORLD_SIZE set): the c10d
  // backend (auto, gloo or nccl) and how long a collective may wait for a peer.
  std::string dist_backend = "auto";
  double dist_timeout_s = 300;
  // The gradient all-reduce started bucket by bucket during the backward pass (on) or
  // after it (off); the weights are the same bit for bit. auto: on for CUDA (NCCL runs
  // beside the kernels), off on the CPU, where Gloo's threads take the cores the backward
  // pass needs (measured: docs/distributed.md).
  std::string dist_overlap = "auto";
  size_t dist_bucket_bytes = 0;  // gradient bucket size; 0: the strategy's own (tests)
};

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0;
  double final_loss = 0, final_mse = 0;
  bool interrupted = false;
  size_t skipped_images = 0;
  int rank = 0, world_size = 1;  // this process's place in the job
  double allreduce_seconds = 0;  // spent averaging gradients
  size_t allreduce_bytes_per_step = 0;
};

// Throws hrvq::Error on bad input or a non-finite loss (the last checkpoint is kept).
TrainSummary train(const TrainOptions& options);

}  // namespace hrvq
