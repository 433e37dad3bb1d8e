// Converting between the torch model and the model file (format/model-file.md).
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "hrvq/config.hpp"
#include "hrvq/model_file.hpp"
#include "model.hpp"

namespace hrvq {

void write_model_config(const ModelConfig& config, Metadata& meta);
ModelConfig read_model_config(const Metadata& meta);
void write_train_config(const TrainConfig& config, Metadata& meta);
TrainConfig read_train_config(const Metadata& meta);

// Every parameter and buffer of the model as tensors named by their module path.
void store_weights(HrvqModel& model, ModelFile& file);
// Copies weights into `model`; every tensor must be present with the right shape and dtype.
void load_weights(HrvqModel& model, const ModelFile& file);
// Copies every tensor of `file` whose name and shape match one of the model's, except
// those whose names start with `skip_prefix`; returns how many were copied. For
// initialising a run from another model (a pretrained autoencoder, another quantizer).
int load_matching_weights(HrvqModel& model, const ModelFile& file, const std::string& skip_prefix);

// Per-layer code counts gathered on the training data: "counts.layer<i>" (u64, one per row
// of layer i's table; for hr a row is parent * m + local, so a row block is one context).
void store_code_counts(const std::vector<std::vector<uint64_t>>& counts, ModelFile& file);
std::vector<std::vector<uint64_t>> read_code_counts(const ModelFile& file, const ModelConfig& config);

// A model file opened for use: the network in eval mode on `device`.
struct LoadedModel {
  HrvqModel net{nullptr};
  ModelConfig config;
  LoadedModelFile file;
  std::vector<std::vector<uint64_t>> counts;  // empty if the file has none
};
LoadedModel load_model(const std::string& path, torch::Device device);

torch::Tensor to_torch(const TensorEntry& entry);
TensorEntry from_torch(const std::string& name, const torch::Tensor& tensor);

}  // namespace hrvq
