#include "model_io.hpp"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "hrvq/error.hpp"

namespace hrvq {

void write_model_config(const ModelConfig& c, Metadata& meta) {
  meta.set_string("hrvq.architecture", "hrvq-autoencoder");
  meta.set_string("hrvq.quantizer", quantizer_kind_name(c.quantizer));
  meta.set_int("hrvq.image_channels", c.image_channels);
  meta.set_int("hrvq.channels", c.channels);
  meta.set_int("hrvq.res_blocks", c.res_blocks);
  meta.set_int("hrvq.res_channels", c.res_channels);
  meta.set_int("hrvq.embed_dim", c.embed_dim);
  meta.set_int("hrvq.downsample", c.downsample);
  meta.set_string("hrvq.upsample", upsample_kind_name(c.upsample));
  meta.set_int("hrvq.layers", c.layers);
  if (c.groups != 1) meta.set_int("hrvq.groups", c.groups);  // absent means 1, as in older files
  meta.set_int("hrvq.codes", c.codes);
  meta.set_double("hrvq.beta", c.beta);
  meta.set_double("hrvq.beta_ec", c.beta_ec);
  meta.set_int("hrvq.ema", c.ema ? 1 : 0);
  meta.set_double("hrvq.ema_decay", c.ema_decay);
}

ModelConfig read_model_config(const Metadata& meta) {
  std::string arch = meta.get_string("hrvq.architecture");
  if (arch != "hrvq-autoencoder")
    throw Error(fmt::format("{}: unknown architecture '{}' (this hrvq reads hrvq-autoencoder)", meta.name(), arch));
  ModelConfig c;
  try {
    c.quantizer = parse_quantizer_kind(meta.get_string("hrvq.quantizer"));
    c.upsample = parse_upsample_kind(meta.get_string("hrvq.upsample"));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", meta.name(), e.what()));
  }
  auto small_int = [&](const char* key) {
    int64_t v = meta.get_int(key);
    if (v < -(1 << 24) || v > (1 << 24)) throw Error(fmt::format("{}: key '{}' out of range ({})", meta.name(), key, v));
    return static_cast<int>(v);
  };
  c.image_channels = small_int("hrvq.image_channels");
  c.channels = small_int("hrvq.channels");
  c.res_blocks = small_int("hrvq.res_blocks");
  c.res_channels = small_int("hrvq.res_channels");
  c.embed_dim = small_int("hrvq.embed_dim");
  c.downsample = small_int("hrvq.downsample");
  c.layers = small_int("hrvq.layers");
  {
    const int64_t g = meta.get_int_or("hrvq.groups", 1);
    if (g < 1 || g > 16) throw Error(fmt::format("{}: key 'hrvq.groups' out of range ({})", meta.name(), g));
    c.groups = static_cast<int>(g);
  }
  c.codes = small_int("hrvq.codes");
  c.beta = meta.get_double("hrvq.beta");
  c.beta_ec = meta.get_double("hrvq.beta_ec");
  c.ema = meta.get_int("hrvq.ema") != 0;
  c.ema_decay = meta.get_double("hrvq.ema_decay");
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", meta.name(), e.what()));
  }
  return c;
}

void write_train_config(const TrainConfig& t, Metadata& meta) {
  meta.set_string("train.preset", t.preset);
  meta.set_int("train.image_size", t.image_size);
  meta.set_string("train.fit", t.fit);
  meta.set_int("train.flip", t.flip ? 1 : 0);
  meta.set_int("train.batch_size", t.batch_size);
  meta.set_int("train.steps", t.steps);
  meta.set_double("train.lr", t.lr);
  meta.set_int("train.seed", static_cast<int64_t>(t.seed));
  meta.set_int("train.checkpoint_every", t.checkpoint_every);
  meta.set_int("train.log_every", t.log_every);
  meta.set_double("train.layer_dropout", t.layer_dropout);
  meta.set_int("train.reseed_after", t.reseed_after);
  meta.set_int("train.count_images", t.count_images);
  meta.set_string("train.lr_schedule", t.lr_schedule);
  meta.set_double("train.lr_final_factor", t.lr_final_factor);
  meta.set_int("train.warmup", t.warmup);
  meta.set_int("train.icnr", t.icnr ? 1 : 0);
}

TrainConfig read_train_config(const Metadata& meta) {
  TrainConfig t;
  t.preset = meta.get_string_or("train.preset", "");
  t.image_size = static_cast<int>(meta.get_int("train.image_size"));
  t.fit = meta.get_string("train.fit");
  t.flip = meta.get_int("train.flip") != 0;
  t.batch_size = static_cast<int>(meta.get_int("train.batch_size"));
  t.steps = meta.get_int("train.steps");
  t.lr = meta.get_double("train.lr");
  t.seed = static_cast<uint64_t>(meta.get_int("train.seed"));
  t.checkpoint_every = meta.get_int("train.checkpoint_every");
  t.log_every = meta.get_int("train.log_every");
  t.layer_dropout = meta.get_double("train.layer_dropout");
  t.reseed_after = meta.get_int("train.reseed_after");
  t.count_images = meta.get_int("train.count_images");
  // Absent from files written before these options existed: those runs used these values.
  t.lr_schedule = meta.get_string_or("train.lr_schedule", "constant");
  t.lr_final_factor = meta.get_double_or("train.lr_final_factor", 0.01);
  t.warmup = meta.get_int_or("train.warmup", 0);
  t.icnr = meta.get_int_or("train.icnr", 0) != 0;
  return t;
}

torch::Tensor to_torch(const TensorEntry& entry) {
  std::vector<int64_t> shape(entry.shape.begin(), entry.shape.end());
  torch::Dtype dtype;
  switch (entry.dtype) {
    case DType::F32: dtype = torch::kFloat32; break;
    case DType::I64: dtype = torch::kInt64; break;
    case DType::I32: dtype = torch::kInt32; break;
    case DType::U8: dtype = torch::kUInt8; break;
    case DType::F16: dtype = torch::kFloat16; break;
    case DType::BF16: dtype = torch::kBFloat16; break;
    default: throw Error(fmt::format("tensor '{}' has type {}, which the network cannot use", entry.name, dtype_name(entry.dtype)));
  }
  auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
  if (static_cast<size_t>(t.nbytes()) != entry.data.size())
    throw Error(fmt::format("tensor '{}' holds {} bytes, its shape needs {}", entry.name, entry.data.size(), t.nbytes()));
  std::memcpy(t.data_ptr(), entry.data.data(), entry.data.size());
  return t;
}

TensorEntry from_torch(const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  TensorEntry e;
  e.name = name;
  if (t.scalar_type() == torch::kFloat32) e.dtype = DType::F32;
  else if (t.scalar_type() == torch::kInt64) e.dtype = DType::I64;
  else t = t.to(torch::kFloat32), e.dtype = DType::F32;
  e.shape.assign(t.sizes().begin(), t.sizes().end());
  e.data.resize(t.nbytes());
  std::memcpy(e.data.data(), t.data_ptr(), e.data.size());
  return e;
}

void store_weights(HrvqModel& model, ModelFile& file) {
  for (const auto& p : model->named_parameters()) file.put(from_torch(p.key(), p.value()));
  for (const auto& b : model->named_buffers()) file.put(from_torch(b.key(), b.value()));
}

void load_weights(HrvqModel& model, const ModelFile& file) {
  torch::NoGradGuard no_grad;
  const std::string& name = file.metadata.name();
  auto copy_into = [&](const std::string& key, torch::Tensor& target) {
    const TensorEntry* entry = file.find(key);
    if (!entry) throw Error(fmt::format("{}: missing tensor '{}'", name, key));
    std::vector<int64_t> want(target.sizes().begin(), target.sizes().end());
    if (entry->shape != want)
      throw Error(fmt::format("{}: tensor '{}' has shape [{}], the configuration needs [{}]", name, key,
                              fmt::join(entry->shape, ","), fmt::join(want, ",")));
    auto src = to_torch(*entry);
    if (src.scalar_type() != target.scalar_type())
      throw Error(fmt::format("{}: tensor '{}' has the wrong element type", name, key));
    target.copy_(src);
  };
  for (auto& p : model->named_parameters()) copy_into(p.key(), p.value());
  for (auto& b : model->named_buffers()) copy_into(b.key(), b.value());
}

int load_matching_weights(HrvqModel& model, const ModelFile& file, const std::string& skip_prefix) {
  torch::NoGradGuard no_grad;
  int copied = 0;
  auto try_copy = [&](const std::string& key, torch::Tensor& target) {
    if (!skip_prefix.empty() && key.rfind(skip_prefix, 0) == 0) return;
    const TensorEntry* entry = file.find(key);
    if (!entry) return;
    std::vector<int64_t> want(target.sizes().begin(), target.sizes().end());
    if (entry->shape != want) return;
    auto src = to_torch(*entry);
    if (src.scalar_type() != target.scalar_type()) return;
    target.copy_(src);
    ++copied;
  };
  for (auto& p : model->named_parameters()) try_copy(p.key(), p.value());
  for (auto& b : model->named_buffers()) try_copy(b.key(), b.value());
  return copied;
}

void store_code_counts(const std::vector<std::vector<uint64_t>>& counts, ModelFile& file) {
  for (size_t i = 0; i < counts.size(); ++i)
    file.put(make_tensor_u64(fmt::format("counts.layer{}", i), {static_cast<int64_t>(counts[i].size())}, counts[i]));
}

std::vector<std::vector<uint64_t>> read_code_counts(const ModelFile& file, const ModelConfig& config) {
  std::vector<std::vector<uint64_t>> counts;
  auto sizes = config.layer_table_sizes();
  for (size_t i = 0; i < sizes.size(); ++i) {
    const TensorEntry* e = file.find(fmt::format("counts.layer{}", i));
    if (!e) return {};
    auto v = tensor_as_u64(*e, file.metadata.name());
    if (static_cast<int64_t>(v.size()) != sizes[i])
      throw Error(fmt::format("{}: counts.layer{} has {} entries, expected {}", file.metadata.name(), i, v.size(), sizes[i]));
    counts.push_back(std::move(v));
  }
  return counts;
}

LoadedModel load_model(const std::string& path, torch::Device device) {
  LoadedModel m;
  m.file = open_model_file(path);
  m.file.file.metadata.set_name(path);
  m.config = read_model_config(m.file.file.metadata);
  m.net = HrvqModel(m.config);
  load_weights(m.net, m.file.file);
  m.counts = read_code_counts(m.file.file, m.config);
  m.net->to(device);
  m.net->eval();
  return m;
}

}  // namespace hrvq
