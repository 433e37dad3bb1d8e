#include "progress.hpp"
#include "prior.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "adam.hpp"
#include "distributed.hpp"
#include "gradient_sync.hpp"
#include "device.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/error.hpp"
#include "hrvq/fid.hpp"
#include "hrvq/file_io.hpp"
#include "tensor_image.hpp"

namespace hrvq {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

constexpr const char* kPriorArchitecture = "hrvq-gated-pixelcnn";
constexpr int64_t kPriorVersion = 1;

void PriorConfig::validate() const {
  if (channels < 1 || channels > 4096) throw Error(fmt::format("prior channels must be in 1..4096, not {}", channels));
  if (depth < 1 || depth > 256) throw Error(fmt::format("prior layers must be in 1..256, not {}", depth));
  if (kernel < 1 || kernel > 31 || kernel % 2 == 0)
    throw Error(fmt::format("prior kernel must be odd and in 1..31, not {}", kernel));
  if (embed < 1 || embed > 4096) throw Error(fmt::format("prior embedding size must be in 1..4096, not {}", embed));
  if (cond_channels < 1 || cond_channels > 4096)
    throw Error(fmt::format("prior conditioning channels must be in 1..4096, not {}", cond_channels));
  if (cond_blocks < 0 || cond_blocks > 64)
    throw Error(fmt::format("prior conditioning blocks must be in 0..64, not {}", cond_blocks));
}

int64_t PriorShape::codes_per_image() const {
  int64_t n = 0;
  for (auto& g : grids) n += g.first * g.second;
  return n;
}

namespace {

torch::Tensor gate(const torch::Tensor& x) {
  auto parts = x.chunk(2, 1);
  return torch::tanh(parts[0]) * torch::sigmoid(parts[1]);
}

}  // namespace

// ---------------------------------------------------------------------------------
// Networks

GatedLayerImpl::GatedLayerImpl(int channels, int kernel, int cond_channels, bool first) : kernel_(kernel), first_(first) {
  const int c = channels;
  vconv_ = register_module("vconv", nn::Conv2d(nn::Conv2dOptions(c, 2 * c, {kernel / 2 + 1, kernel})));
  hconv_ = register_module("hconv", nn::Conv2d(nn::Conv2dOptions(c, 2 * c, {1, kernel / 2 + 1})));
  v_to_h_ = register_module("v_to_h", nn::Conv2d(nn::Conv2dOptions(2 * c, 2 * c, 1)));
  h_out_ = register_module("h_out", nn::Conv2d(nn::Conv2dOptions(c, c, 1)));
  cond_ = register_module("cond", nn::Conv2d(nn::Conv2dOptions(cond_channels, 4 * c, 1)));
}

std::pair<torch::Tensor, torch::Tensor> GatedLayerImpl::forward(const torch::Tensor& v, const torch::Tensor& h,
                                                                const torch::Tensor& cond) {
  const int64_t rows = v.size(2), cols = v.size(3);
  const int64_t kh = kernel_ / 2 + 1, half = kernel_ / 2;
  // The first layer reads the codes themselves, so it must not see its own position:
  // one more row of top padding (and column of left padding) shifts the window to
  // strictly before it; the extra output row/column is cut off. Later layers read
  // features that already exclude their position and may include it.
  const int64_t shift = first_ ? 1 : 0;
  auto vp = vconv_->forward(F::pad(v, F::PadFuncOptions({half, half, kh - 1 + shift, 0}))).slice(2, 0, rows);
  auto hp = hconv_->forward(F::pad(h, F::PadFuncOptions({kh - 1 + shift, 0, 0, 0}))).slice(3, 0, cols);
  auto c = cond_->forward(cond).chunk(2, 1);
  auto v_new = gate(vp + c[0]);
  // The vertical stack sees only rows strictly above, so it may feed the horizontal one
  // at the same position without a shift.
  auto h_gated = gate(hp + v_to_h_->forward(vp) + c[1]);
  auto h_new = h_out_->forward(h_gated);
  if (!first_) h_new = h_new + h;
  return {v_new, h_new};
}

LayerPriorImpl::LayerPriorImpl(const PriorShape& shape, int layer, const PriorConfig& config)
    : shape_(shape), layer_(layer), config_(config) {
  const int64_t m = shape.codes;
  input_embed_ = register_module("input_embed", nn::Embedding(m, config.channels));
  int64_t cond_in = 2;  // row and column coordinates
  for (int j = 0; j < layer; ++j) {
    earlier_embed_.push_back(register_module(fmt::format("earlier_embed{}", j), nn::Embedding(m, config.embed)));
    cond_in += config.embed;
  }
  if (shape.hierarchical && layer > 0) {
    double table = std::pow(static_cast<double>(m), layer);
    if (table <= static_cast<double>(kMaxParentTable)) {
      parent_embed_ = register_module("parent_embed", nn::Embedding(static_cast<int64_t>(table), config.embed));
      cond_in += config.embed;
    }
  }
  cond_in_ = register_module("cond_in", nn::Conv2d(nn::Conv2dOptions(cond_in, config.cond_channels, 3).padding(1)));
  for (int k = 0; k < config.cond_blocks; ++k) {
    auto a = register_module(fmt::format("cond_block{}_a", k),
                             nn::Conv2d(nn::Conv2dOptions(config.cond_channels, config.cond_channels, 3).padding(1)));
    auto b = register_module(fmt::format("cond_block{}_b", k),
                             nn::Conv2d(nn::Conv2dOptions(config.cond_channels, config.cond_channels, 1)));
    cond_blocks_.emplace_back(a, b);
  }
  for (int i = 0; i < config.depth; ++i)
    gated_.push_back(register_module(fmt::format("gated{}", i),
                                     GatedLayer(config.channels, config.kernel, config.cond_channels, i == 0)));
  head1_ = register_module("head1", nn::Conv2d(nn::Conv2dOptions(config.channels, config.channels, 1)));
  head2_ = register_module("head2", nn::Conv2d(nn::Conv2dOptions(config.channels, m, 1)));
}

torch::Tensor LayerPriorImpl::condition(const std::vector<torch::Tensor>& earlier, int64_t batch, torch::Device device) {
  const auto [h, w] = shape_.grids[layer_];
  auto fopt = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> parts;
  // Coordinates give every layer, the first included, a sense of where it is.
  parts.push_back(torch::linspace(-1, 1, h, fopt).view({1, 1, h, 1}).expand({batch, 1, h, w}));
  parts.push_back(torch::linspace(-1, 1, w, fopt).view({1, 1, 1, w}).expand({batch, 1, h, w}));
  auto to_grid = [&](const torch::Tensor& e) {  // (B, hj, wj, E) -> (B, E, h, w)
    auto t = e.permute({0, 3, 1, 2});
    if (t.size(2) != h || t.size(3) != w)
      t = F::interpolate(t, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest));
    return t;
  };
  if (static_cast<int>(earlier.size()) < layer_)
    throw Error(fmt::format("prior: layer {} needs the codes of {} earlier layers, got {}", layer_ + 1, layer_, earlier.size()));
  for (int j = 0; j < layer_; ++j) parts.push_back(to_grid(earlier_embed_[j]->forward(earlier[j])));
  if (parent_embed_) {
    // The parent's global row: the tuple of every earlier local code at this position.
    auto parent = earlier[0];
    for (int j = 1; j < layer_; ++j) parent = parent * shape_.codes + earlier[j];
    parts.push_back(to_grid(parent_embed_->forward(parent)));
  }
  auto x = cond_in_->forward(torch::cat(parts, 1));
  for (auto& [a, b] : cond_blocks_) x = x + b->forward(torch::relu(a->forward(torch::relu(x))));
  return x;
}

torch::Tensor LayerPriorImpl::logits(const torch::Tensor& x, const torch::Tensor& cond) {
  const int64_t rows = x.size(1);
  auto c = cond.slice(2, 0, rows);
  auto e = input_embed_->forward(x).permute({0, 3, 1, 2});
  torch::Tensor v = e, h = e;
  for (auto& g : gated_) std::tie(v, h) = g->forward(v, h, c);
  return head2_->forward(torch::relu(head1_->forward(torch::relu(h))));
}

CodePriorImpl::CodePriorImpl(PriorShape shape, PriorConfig config) : shape_(std::move(shape)), config_(config) {
  config_.validate();
  if (shape_.layers < 1 || static_cast<int>(shape_.grids.size()) != shape_.layers)
    throw Error("prior: the model has no code layers");
  // One network per layer rather than one with a layer embedding: the layers differ in
  // what conditions them (layer i sees i-1 earlier maps) and in their statistics, and
  // sampling runs one layer at a time, so sharing would buy little and cost capacity.
  for (int i = 0; i < shape_.layers; ++i)
    layers_.push_back(register_module(fmt::format("layer{}", i), LayerPrior(shape_, i, config_)));
}

torch::Tensor CodePriorImpl::layer_logits(int layer, const std::vector<torch::Tensor>& maps) {
  auto& net = layers_.at(layer);
  auto cond = net->condition(maps, maps.at(layer).size(0), maps.at(layer).device());
  return net->logits(maps[layer], cond);
}

torch::Tensor CodePriorImpl::nll_sum(const std::vector<torch::Tensor>& maps) {
  std::vector<torch::Tensor> per_layer;
  for (int l = 0; l < shape_.layers; ++l) {
    auto lg = layer_logits(l, maps);
    per_layer.push_back(F::cross_entropy(lg, maps[l], F::CrossEntropyFuncOptions().reduction(torch::kSum)));
  }
  return torch::stack(per_layer);
}

std::vector<torch::Tensor> CodePriorImpl::sample(int64_t batch, double temperature, torch::Device device,
                                                 at::Generator& generator) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> maps;
  for (int l = 0; l < shape_.layers; ++l) {
    const auto [h, w] = shape_.grids[l];
    auto x = torch::zeros({batch, h, w}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    auto& net = layers_[l];
    auto cond = net->condition(maps, batch, device);
    for (int64_t r = 0; r < h; ++r) {
      for (int64_t c = 0; c < w; ++c) {
        // Rows below r cannot influence row r, so only the prefix is run.
        auto lg = net->logits(x.slice(1, 0, r + 1), cond).select(2, r).select(2, c);
        // The draw happens on the CPU from one generator, whatever the device.
        auto probs = torch::softmax(lg.to(torch::kCPU, torch::kFloat64) / temperature, 1);
        auto s = torch::multinomial(probs, 1, false, generator).squeeze(1);
        x.select(1, r).select(1, c).copy_(s.to(device));
      }
    }
    maps.push_back(x);
  }
  return maps;
}

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// ---------------------------------------------------------------------------------
// Files

PriorShape prior_shape_for(const LoadedModel& model) {
  const Metadata& meta = model.file.file.metadata;
  int64_t size = meta.get_int("train.image_size");
  if (size < 1 || size > 16384) throw Error(fmt::format("{}: train.image_size {} is out of range", meta.name(), size));
  if (model.config.groups != 1)
    throw Error(fmt::format("{}: the code prior does not support models with channel groups (this one has {})",
                            meta.name(), model.config.groups));
  PriorShape s;
  s.layers = model.config.num_layers();
  s.codes = model.config.codes;
  s.grids = model.net->latent_grid(size, size);
  s.hierarchical = model.config.quantizer == QuantizerKind::Hr;
  s.image_height = s.image_width = static_cast<int>(size);
  s.image_channels = model.config.image_channels;
  return s;
}

namespace {

std::string fingerprint_text(uint64_t fp) { return fmt::format("{:016x}", fp); }

void write_config_keys(const PriorShape& s, const PriorConfig& c, Metadata& meta) {
  meta.set_int("prior.layers", s.layers);
  meta.set_int("prior.codes", s.codes);
  meta.set_int("prior.hierarchical", s.hierarchical ? 1 : 0);
  meta.set_int("prior.image_height", s.image_height);
  meta.set_int("prior.image_width", s.image_width);
  meta.set_int("prior.image_channels", s.image_channels);
  for (int i = 0; i < s.layers; ++i) {
    meta.set_int(fmt::format("prior.grid{}.height", i), s.grids[i].first);
    meta.set_int(fmt::format("prior.grid{}.width", i), s.grids[i].second);
  }
  meta.set_int("prior.channels", c.channels);
  meta.set_int("prior.depth", c.depth);
  meta.set_int("prior.kernel", c.kernel);
  meta.set_int("prior.embed", c.embed);
  meta.set_int("prior.cond_channels", c.cond_channels);
  meta.set_int("prior.cond_blocks", c.cond_blocks);
}

int small_int(const Metadata& meta, const std::string& key) {
  int64_t v = meta.get_int(key);
  if (v < 0 || v > (1 << 24)) throw Error(fmt::format("{}: key '{}' out of range ({})", meta.name(), key, v));
  return static_cast<int>(v);
}

// Checks that the file is a prior of a version this code reads, for `model_fp`.
void check_prior_identity(const Metadata& meta, uint64_t model_fp, const std::string& model_path) {
  if (meta.has("hrvq.architecture") && !meta.has("prior.architecture"))
    throw Error(fmt::format("{}: is an autoencoder model file, not a prior (train one with hrvq train-prior)", meta.name()));
  std::string arch = meta.get_string("prior.architecture");
  if (arch != kPriorArchitecture)
    throw Error(fmt::format("{}: unknown prior architecture '{}' (this hrvq reads {})", meta.name(), arch, kPriorArchitecture));
  int64_t version = meta.get_int("prior.version");
  if (version != kPriorVersion)
    throw Error(fmt::format("{}: prior version {} (this hrvq reads version {})", meta.name(), version, kPriorVersion));
  const std::string& fp = meta.get_string("prior.model_fingerprint");
  if (fp != fingerprint_text(model_fp))
    throw Error(fmt::format("{}: this prior was trained for the model with fingerprint {}, not {} (fingerprint {}); "
                            "train a prior for this model with hrvq train-prior",
                            meta.name(), fp, model_path, fingerprint_text(model_fp)));
}

PriorConfig read_prior_config(const Metadata& meta) {
  PriorConfig c;
  c.channels = small_int(meta, "prior.channels");
  c.depth = small_int(meta, "prior.depth");
  c.kernel = small_int(meta, "prior.kernel");
  c.embed = small_int(meta, "prior.embed");
  c.cond_channels = small_int(meta, "prior.cond_channels");
  c.cond_blocks = small_int(meta, "prior.cond_blocks");
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", meta.name(), e.what()));
  }
  return c;
}

// The shape stored in a prior file must be the one its model gives.
void check_prior_shape(const Metadata& meta, const PriorShape& want) {
  bool same = meta.get_int("prior.layers") == want.layers && meta.get_int("prior.codes") == want.codes &&
              (meta.get_int("prior.hierarchical") != 0) == want.hierarchical &&
              meta.get_int("prior.image_height") == want.image_height &&
              meta.get_int("prior.image_width") == want.image_width;
  for (int i = 0; same && i < want.layers; ++i)
    same = meta.get_int(fmt::format("prior.grid{}.height", i)) == want.grids[i].first &&
           meta.get_int(fmt::format("prior.grid{}.width", i)) == want.grids[i].second;
  if (!same) throw Error(fmt::format("{}: the prior's code layout does not match its model's", meta.name()));
}

}  // namespace

void write_prior_metadata(const PriorShape& shape, const PriorConfig& config, uint64_t model_fingerprint,
                          Metadata& meta) {
  meta.set_string("prior.architecture", kPriorArchitecture);
  meta.set_int("prior.version", kPriorVersion);
  meta.set_string("prior.model_fingerprint", fingerprint_text(model_fingerprint));
  write_config_keys(shape, config, meta);
}

void store_prior_weights(CodePrior& prior, ModelFile& file) {
  for (const auto& p : prior->named_parameters()) file.put(from_torch(p.key(), p.value()));
}

void load_prior_weights(CodePrior& prior, const ModelFile& file) {
  torch::NoGradGuard no_grad;
  const std::string& name = file.metadata.name();
  for (auto& p : prior->named_parameters()) {
    const TensorEntry* entry = file.find(p.key());
    if (!entry) throw Error(fmt::format("{}: missing tensor '{}'", name, p.key()));
    std::vector<int64_t> want(p.value().sizes().begin(), p.value().sizes().end());
    if (entry->shape != want)
      throw Error(fmt::format("{}: tensor '{}' has shape [{}], the configuration needs [{}]", name, p.key(),
                              fmt::join(entry->shape, ","), fmt::join(want, ",")));
    auto src = to_torch(*entry);
    if (src.scalar_type() != p.value().scalar_type())
      throw Error(fmt::format("{}: tensor '{}' has the wrong element type", name, p.key()));
    p.value().copy_(src);
  }
}

LoadedPrior load_prior(const std::string& path, const LoadedModel& model, torch::Device device) {
  LoadedPrior p;
  p.file = open_model_file(path);
  p.file.file.metadata.set_name(path);
  const Metadata& meta = p.file.file.metadata;
  check_prior_identity(meta, model.file.fingerprint, model.file.path.empty() ? "this model" : model.file.path);
  p.config = read_prior_config(meta);
  p.shape = prior_shape_for(model);
  check_prior_shape(meta, p.shape);
  p.net = CodePrior(p.shape, p.config);
  load_prior_weights(p.net, p.file.file);
  p.net->to(device);
  p.net->eval();
  return p;
}

torch::Tensor decode_samples(LoadedModel& model, const PriorShape& shape, const std::vector<torch::Tensor>& maps) {
  return model.net->decode(maps, 0, shape.image_height, shape.image_width).clamp(0, 1);
}

// ---------------------------------------------------------------------------------
// Codes of a dataset

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_prior_sigint(int) { g_interrupted.store(true); }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Every image's local code maps, kept on the CPU in 16 bits (m <= 4096).
struct CodeSet {
  std::vector<torch::Tensor> maps;  // (N, h, w) int16 per layer
  int64_t size() const { return maps.empty() ? 0 : maps[0].size(0); }
  std::vector<torch::Tensor> batch(const torch::Tensor& idx, torch::Device device) const {
    std::vector<torch::Tensor> out;
    for (auto& m : maps) out.push_back(m.index_select(0, idx).to(torch::kInt64).to(device));
    return out;
  }
};

CodeSet extract_codes(LoadedModel& model, const PriorShape& shape, const std::string& data, DatasetKind kind,
                      const Subset& subset, torch::Device device, int threads, bool quiet, const std::string& label) {
  torch::NoGradGuard no_grad;
  auto dataset = open_dataset(data, kind, subset);
  TrainConfig tc = read_train_config(model.file.file.metadata);
  TransformOptions tr;
  tr.size = shape.image_height;
  tr.channels = model.config.image_channels;
  tr.fit = tc.fit == "resize" ? FitMode::Resize : FitMode::CenterCrop;
  LoaderOptions lo;
  lo.batch_size = 256;
  lo.threads = std::max(1, threads);
  BatchLoader loader(*dataset, tr, lo);
  std::vector<std::vector<torch::Tensor>> parts(shape.layers);
  const auto start = Clock::now();
  size_t done = 0;
  for (size_t b = 0, n = loader.batches_per_epoch(); b < n; ++b) {
    Batch batch = loader.next();
    auto maps = model.net->encode(batch_to_tensor(batch).to(device));
    for (int l = 0; l < shape.layers; ++l) parts[l].push_back(maps[l].to(torch::kCPU).to(torch::kInt16));
    done += batch.count;
    if (!quiet && isatty(2)) fmt::print(stderr, "\r{}: codes of {}/{} images", label, done, dataset->size());
  }
  CodeSet set;
  for (int l = 0; l < shape.layers; ++l) {
    if (parts[l].empty()) throw Error(fmt::format("{}: no image could be read", data));
    set.maps.push_back(torch::cat(parts[l], 0).contiguous());
  }
  if (!quiet) {
    fmt::print(stderr, "{}{}: codes of {} images in {:.1f} s", isatty(2) ? "\r" : "", label, set.size(),
               seconds_since(start));
    if (loader.skipped()) fmt::print(stderr, " ({} corrupt skipped)", loader.skipped());
    fmt::print(stderr, "\n");
  }
  return set;
}

PriorEvaluation evaluate_codes(CodePrior& net, const LoadedModel& model, const CodeSet& codes, torch::Device device,
                               int batch_size) {
  torch::NoGradGuard no_grad;
  const PriorShape& shape = net->shape();
  bool was_training = net->is_training();
  net->eval();
  PriorEvaluation e;
  e.images = codes.size();
  std::vector<double> nats(shape.layers, 0.0);
  for (int64_t start = 0; start < e.images; start += batch_size) {
    auto idx = torch::arange(start, std::min(e.images, start + batch_size), torch::kInt64);
    auto s = net->nll_sum(codes.batch(idx, device)).to(torch::kCPU, torch::kFloat64);
    for (int l = 0; l < shape.layers; ++l) nats[l] += s[l].item<double>();
  }
  net->train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(e.images, 1));
  double total_bits = 0;
  for (int l = 0; l < shape.layers; ++l) {
    int64_t per_image = shape.grids[l].first * shape.grids[l].second;
    e.codes_per_image.push_back(per_image);
    double bits = nats[l] / std::log(2.0);
    e.bits_per_code.push_back(bits / (n * per_image));
    total_bits += bits;
    e.raw_bits_per_image += per_image * std::log2(static_cast<double>(shape.codes));
  }
  e.bits_per_image = total_bits / n;
  e.total_bits_per_code = e.bits_per_image / shape.codes_per_image();

  // The entropy coder's model: each layer's code given its context (hr: the parent's
  // global row; otherwise one context), from the counts stored in the model file.
  if (!model.counts.empty()) {
    e.has_counts = true;
    const uint32_t m = static_cast<uint32_t>(shape.codes);
    double exact = 0, coded = 0;
    torch::Tensor parent;
    for (int l = 0; l < shape.layers; ++l) {
      const auto& counts = model.counts[l];
      const uint32_t contexts = static_cast<uint32_t>(counts.size() / m);
      LayerEntropyModel lm(counts, contexts, m);
      auto local = codes.maps[l].to(torch::kInt64).reshape({-1});
      torch::Tensor ctx = torch::zeros_like(local);
      if (shape.hierarchical && l > 0) ctx = parent;
      if (shape.hierarchical) parent = ctx * static_cast<int64_t>(m) + local;
      std::vector<uint16_t> sym(local.numel());
      std::vector<uint32_t> cx(local.numel());
      auto la = local.accessor<int64_t, 1>();
      auto ca = ctx.accessor<int64_t, 1>();
      for (int64_t k = 0; k < local.numel(); ++k) {
        sym[k] = static_cast<uint16_t>(la[k]);
        cx[k] = static_cast<uint32_t>(ca[k]);
      }
      double bits = lm.exact_cross_entropy_bits(sym.data(), cx.data(), sym.size());
      coded += lm.cross_entropy_bits(sym.data(), cx.data(), sym.size());
      exact += bits;
      e.count_bits_per_code.push_back(bits / static_cast<double>(sym.size()));
    }
    e.count_bits_per_image = exact / n;
    e.count_coder_bits_per_image = coded / n;
  }
  return e;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  // A fixed Fisher-Yates over mt19937_64 (std::shuffle's algorithm is the library's
  // choice), so a resumed run sees the same batches on any platform.
  std::mt19937_64 rng(item_seed(seed, epoch, 0));
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1))]);
  return p;
}

void write_train_keys(const PriorTrainOptions& o, int64_t steps, int batch, Metadata& meta) {
  meta.set_int("prior.train.steps", steps);
  meta.set_int("prior.train.batch_size", batch);
  meta.set_double("prior.train.lr", o.lr);
  meta.set_int("prior.train.seed", static_cast<int64_t>(o.seed));
  meta.set_string("prior.train.data", o.data);
}

}  // namespace

std::string prior_evaluation_table(const PriorEvaluation& e) {
  std::string out = fmt::format("held-out images  {}\n", e.images);
  out += "layer  codes/image  prior bits/code";
  if (e.has_counts) out += "  count-model bits/code";
  out += "\n";
  for (size_t l = 0; l < e.bits_per_code.size(); ++l) {
    out += fmt::format("{:<7}{:<13}{:<17.4f}", l + 1, e.codes_per_image[l], e.bits_per_code[l]);
    if (e.has_counts) out += fmt::format("  {:.4f}", e.count_bits_per_code[l]);
    out += "\n";
  }
  out += fmt::format("all    {:<13}{:<17.4f}\n", std::accumulate(e.codes_per_image.begin(), e.codes_per_image.end(), int64_t{0}),
                     e.total_bits_per_code);
  out += fmt::format("bits/image: prior {:.2f}, raw {:.0f}", e.bits_per_image, e.raw_bits_per_image);
  if (e.has_counts)
    out += fmt::format(", count model {:.2f} (rANS tables {:.2f}); the prior saves {:.2f} bits/image ({:.1f}%)",
                       e.count_bits_per_image, e.count_coder_bits_per_image,
                       e.count_coder_bits_per_image - e.bits_per_image,
                       100.0 * (e.count_coder_bits_per_image - e.bits_per_image) / e.count_coder_bits_per_image);
  return out;
}

std::string prior_evaluation_json(const PriorEvaluation& e) {
  std::string out = fmt::format(
      "{{\"images\":{},\"codes_per_image\":[{}],\"bits_per_code\":[{}],\"total_bits_per_code\":{:.6f},"
      "\"bits_per_image\":{:.4f},\"raw_bits_per_image\":{:.4f}",
      e.images, fmt::join(e.codes_per_image, ","), fmt::join(e.bits_per_code, ","), e.total_bits_per_code,
      e.bits_per_image, e.raw_bits_per_image);
  if (e.has_counts)
    out += fmt::format(",\"count_bits_per_code\":[{}],\"count_bits_per_image\":{:.4f},"
                       "\"count_coder_bits_per_image\":{:.4f},\"gain_bits_per_image\":{:.4f}",
                       fmt::join(e.count_bits_per_code, ","), e.count_bits_per_image, e.count_coder_bits_per_image,
                       e.count_coder_bits_per_image - e.bits_per_image);
  return out + "}";
}

// ---------------------------------------------------------------------------------
// Training

PriorTrainReport train_prior(const PriorTrainOptions& options) {
  PriorTrainReport report;
  if (options.output.empty()) throw Error("train-prior: an output prior path is needed (-o PRIOR.hrvqm)");
  if (options.model.empty()) throw Error("train-prior: a model is needed (-m MODEL.hrvqm)");
  const std::string ckpt_path = options.checkpoint.empty() ? options.output + ".ckpt" : options.checkpoint;
  const std::string log_path = options.log_path.empty() ? options.output + ".log.jsonl" : options.log_path;
  torch::Device device = resolve_device(options.device);
  // Under torchrun: every rank extracts the same codes and trains on its share of each
  // global batch; rank 0 alone writes (as in hrvq train).
  std::unique_ptr<Communicator> comm = join_job_from_environment(options.dist_backend, options.dist_timeout_s, device);
  const int world = comm->world_size();
  const bool root = comm->is_root();
  LoadedModel model = load_model(options.model, device);
  const PriorShape shape = prior_shape_for(model);

  PriorTrainOptions o = options;
  if (!root) o.quiet = true;
  std::unique_ptr<LoadedModelFile> resumed;
  if (o.resume) {
    if (world == 1 && !file_exists(ckpt_path)) throw Error(fmt::format("{}: no checkpoint to resume from", ckpt_path));
    resumed = std::make_unique<LoadedModelFile>(open_model_on_root(*comm, ckpt_path, "reading the checkpoint"));
    resumed->file.metadata.set_name(ckpt_path);
    const Metadata& meta = resumed->file.metadata;
    check_prior_identity(meta, model.file.fingerprint, options.model);
    check_prior_shape(meta, shape);
    // The run continues as it started; only the number of steps may be raised.
    o.prior = read_prior_config(meta);
    o.steps = std::max(o.steps, meta.get_int("prior.train.steps"));
    o.batch_size = static_cast<int>(meta.get_int("prior.train.batch_size"));
    o.lr = meta.get_double("prior.train.lr");
    o.seed = static_cast<uint64_t>(meta.get_int("prior.train.seed"));
  }
  o.prior.validate();
  if (o.batch_size < 1 || o.batch_size > 65536) throw Error(fmt::format("batch size must be in 1..65536, not {}", o.batch_size));
  if (o.steps < 0) throw Error("steps must be >= 0");
  if (!(o.lr > 0)) throw Error("learning rate must be positive");
  if (shape.codes > 4096) throw Error(fmt::format("{}: the prior supports at most 4096 codes per layer, not {}", options.model, shape.codes));
  if (o.checkpoint_every <= 0) o.checkpoint_every = o.steps > 0 ? o.steps : 1;
  if (o.log_every <= 0) o.log_every = 50;
  if (o.has_holdout && !o.val_data.empty()) throw Error("train-prior: give --holdout or --val-data, not both");

  const int threads = std::max(1, o.loader_threads);
  CodeSet train_codes = extract_codes(model, shape, o.data, o.kind, o.subset, device, threads, o.quiet, "training");
  CodeSet val_codes;
  bool has_val = o.has_holdout || !o.val_data.empty();
  if (o.has_holdout)
    val_codes = extract_codes(model, shape, o.data, o.kind, o.holdout, device, threads, o.quiet, "held-out");
  else if (!o.val_data.empty())
    val_codes = extract_codes(model, shape, o.val_data, o.kind, Subset{}, device, threads, o.quiet, "held-out");
  const int64_t n_train = train_codes.size();
  report.train_images = n_train;
  // --batch is per rank; the job steps on batch * world codes maps.
  if (world > 1 && n_train < static_cast<int64_t>(o.batch_size) * world)
    throw Error(fmt::format("{}: {} images make no global batch of {} ({} ranks x --batch {})", o.data, n_train,
                            static_cast<int64_t>(o.batch_size) * world, world, o.batch_size));
  const int64_t batch = std::min<int64_t>(o.batch_size, n_train);
  const int64_t global_batch = batch * world;
  const int64_t batches_per_epoch = n_train / global_batch;

  torch::manual_seed(o.seed);
  CodePrior net(shape, o.prior);
  int64_t step = 0;
  if (resumed) {
    load_prior_weights(net, resumed->file);
    step = resumed->file.metadata.get_int("prior.state.step");
    const Metadata& meta = resumed->file.metadata;
    const int64_t saved_world = meta.has("prior.state.world_size") ? meta.get_int("prior.state.world_size") : 1;
    if (saved_world != world && !o.quiet)
      fmt::print(stderr, "hrvq: warning: {} was written by a job of {} rank(s), this one has {}: training continues, "
                         "but not bit-exactly\n", ckpt_path, saved_world, world);
  }
  net->to(device);
  net->train();
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : net->named_parameters()) params.emplace_back(p.key(), p.value());
  comm->broadcast_module(*net, "broadcasting the initial weights");
  Adam adam(params, o.lr);
  if (resumed) adam.load(resumed->file);
  std::vector<torch::Tensor> param_tensors;
  for (auto& p : params) param_tensors.push_back(p.second);
  auto sync = make_gradient_sync(param_tensors, *comm, gradient_overlap_for(o.dist_overlap, device), o.dist_bucket_bytes);
  GradientSync& grad_sync = *sync;
  if (world > 1 && !o.quiet)
    fmt::print(stderr, "data-parallel: {} ranks x batch {} = global batch {}; {} gradient bytes all-reduced per step\n",
               world, batch, global_batch, grad_sync.bytes_per_step());

  std::ofstream log;
  if (root) {
    log.open(log_path, o.resume ? std::ios::app : std::ios::trunc);
    if (!log) throw Error(fmt::format("{}: cannot open the training log for writing", log_path));
  }

  auto base_metadata = [&](Metadata& meta) {
    write_prior_metadata(shape, o.prior, model.file.fingerprint, meta);
    write_train_keys(o, o.steps, static_cast<int>(batch), meta);
    meta.set_int("prior.state.step", step);
    if (world > 1) meta.set_int("prior.state.world_size", world);
  };
  auto save_checkpoint = [&] {
    comm->check_replicas_agree(*net, step);
    if (!root) return;
    ModelFile f;
    f.metadata.set_name(ckpt_path);
    base_metadata(f.metadata);
    store_prior_weights(net, f);
    adam.save(f);
    save_model_file(f, ckpt_path);
  };
  auto log_heldout = [&](const PriorEvaluation& e) {
    if (!root) return;
    log << fmt::format("{{\"step\":{},\"heldout_bits_per_code\":[{}],\"heldout_total_bits_per_code\":{:.6f},"
                       "\"heldout_bits_per_image\":{:.4f}}}\n",
                       step, fmt::join(e.bits_per_code, ","), e.total_bits_per_code, e.bits_per_image);
    log.flush();
  };

  std::signal(SIGINT, o.handle_sigint ? on_prior_sigint : SIG_DFL);
  g_interrupted.store(false);
  const auto start = Clock::now();
  auto window_start = start;
  const int64_t first_step = step;
  const int64_t codes_per_batch = batch * shape.codes_per_image();
  int64_t window_steps = 0, window_images = 0;
  std::vector<double> window_nats(shape.layers, 0.0);
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;

  while (step < o.steps) {
    const int64_t epoch = step / batches_per_epoch, b = step % batches_per_epoch;
    if (epoch != perm_epoch) perm = permutation(n_train, o.seed, static_cast<uint64_t>(epoch)), perm_epoch = epoch;
    // Rank r takes the r-th share of the global batch; one process takes all of it.
    auto idx = torch::from_blob(perm.data() + b * global_batch + comm->rank() * batch, {batch}, torch::kInt64).clone();
    auto nll = net->nll_sum(train_codes.batch(idx, device));
    auto loss = nll.sum() / static_cast<double>(codes_per_batch);
    double loss_value = loss.item<double>();
    bool stop_requested = g_interrupted.load();
    if (world > 1) {
      auto scalars = torch::tensor({loss_value, stop_requested ? 1.0 : 0.0}, torch::kFloat64);
      comm->all_reduce_sum(scalars, "loss all-reduce");
      loss_value = scalars[0].item<double>() / world;
      stop_requested = scalars[1].item<double>() > 0;
    }
    if (!std::isfinite(loss_value))
      throw Error(fmt::format("prior training diverged at step {}: the loss is {}; the last good checkpoint {} is kept "
                              "(try a lower --lr)", step + 1, loss_value, file_exists(ckpt_path) ? ckpt_path : "(none yet)"));
    adam.zero_grad();
    loss.backward();
    grad_sync.average();
    adam.step();
    ++step;
    auto nll_cpu = nll.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    comm->all_reduce_sum(nll_cpu, "loss all-reduce");
    for (int l = 0; l < shape.layers; ++l) window_nats[l] += nll_cpu[l].item<double>();
    ++window_steps;
    window_images += global_batch;

    if (world == 1) stop_requested = g_interrupted.load();
    bool interrupted = stop_requested || (o.stop_after >= 0 && step >= o.stop_after);
    if (step % o.log_every == 0 || step == o.steps || interrupted) {
      double window_s = seconds_since(window_start), total_s = seconds_since(start);
      double ips = window_s > 0 ? window_images / window_s : 0;
      double sps = total_s > 0 ? (step - first_step) / total_s : 0;
      double eta = sps > 0 ? (o.steps - step) / sps : NAN;
      std::vector<double> layer_bits;
      double total = 0;
      for (int l = 0; l < shape.layers; ++l) {
        double per = window_images * shape.grids[l].first * shape.grids[l].second;
        layer_bits.push_back(window_nats[l] / std::log(2.0) / per);
        total += window_nats[l] / std::log(2.0);
      }
      double bits = total / (static_cast<double>(window_images) * shape.codes_per_image());
      report.final_bits_per_code = bits;
      std::string per_layer;
      for (int l = 0; l < shape.layers; ++l) per_layer += fmt::format(" L{} {:.3f}", l + 1, layer_bits[l]);
      if (!o.quiet)
        fmt::print(stderr, "step {}/{} epoch {} loss {:.4f} bits/code |{} | {:.0f} img/s | ETA {}\n", step, o.steps,
                   epoch + 1, bits, per_layer, ips, format_duration(eta));
      if (root) log << fmt::format("{{\"step\":{},\"epoch\":{},\"bits_per_code\":{:.6f},\"layer_bits_per_code\":[{:.6f}],"
                         "\"images_per_s\":{:.2f},\"elapsed_s\":{:.2f},\"eta_s\":{:.1f}}}\n",
                         step, epoch + 1, bits, fmt::join(layer_bits, ","), ips, total_s, std::isfinite(eta) ? eta : -1.0);
      if (root) log.flush();
      window_start = Clock::now();
      window_steps = window_images = 0;
      std::fill(window_nats.begin(), window_nats.end(), 0.0);
    }
    if (interrupted) {
      save_checkpoint();
      if (!o.quiet) fmt::print(stderr, "interrupted at step {}: checkpoint {} written; continue with --resume\n", step, ckpt_path);
      report.interrupted = true;
      break;
    }
    if (step % o.checkpoint_every == 0 || step == o.steps) {
      save_checkpoint();
      if (has_val && step != o.steps) {
        auto e = evaluate_codes(net, model, val_codes, device, 256);
        log_heldout(e);
        if (!o.quiet)
          fmt::print(stderr, "step {}: held-out {:.4f} bits/code, {:.2f} bits/image\n", step, e.total_bits_per_code,
                     e.bits_per_image);
      }
    }
  }
  std::signal(SIGINT, SIG_DFL);
  report.steps = step;
  report.seconds = seconds_since(start);
  report.rank = comm->rank();
  report.world_size = world;
  if (report.interrupted) return report;
  if (step == first_step && (world > 1 || !file_exists(ckpt_path))) save_checkpoint();

  ModelFile f;
  f.metadata.set_name(o.output);
  base_metadata(f.metadata);
  if (has_val) {
    report.heldout = evaluate_codes(net, model, val_codes, device, 256);
    report.evaluated = true;
    log_heldout(report.heldout);
    const PriorEvaluation& e = report.heldout;
    f.metadata.set_int("prior.eval.images", e.images);
    for (int l = 0; l < shape.layers; ++l) f.metadata.set_double(fmt::format("prior.eval.bits_per_code{}", l), e.bits_per_code[l]);
    f.metadata.set_double("prior.eval.bits_per_image", e.bits_per_image);
  }
  store_prior_weights(net, f);
  if (root) save_model_file(f, o.output);
  comm->barrier("the final barrier");
  if (!o.quiet)
    fmt::print(stderr, "trained {} steps in {}; prior {} written\n", step - first_step, format_duration(report.seconds),
               o.output);
  return report;
}

PriorEvaluation evaluate_prior(const std::string& model_path, const std::string& prior_path, const std::string& data,
                               DatasetKind kind, const Subset& subset, const std::string& device_name, int batch_size) {
  torch::Device device = resolve_device(device_name);
  LoadedModel model = load_model(model_path, device);
  LoadedPrior prior = load_prior(prior_path, model, device);
  CodeSet codes = extract_codes(model, prior.shape, data, kind, subset, device, 2, true, "held-out");
  return evaluate_codes(prior.net, model, codes, device, std::max(1, batch_size));
}

// ---------------------------------------------------------------------------------
// Sampling

SampleReport sample_images(const SampleOptions& options, const std::function<void(std::vector<Image>&&)>& sink) {
  torch::NoGradGuard no_grad;
  if (options.count < 1) throw Error(fmt::format("sample: the number of images must be at least 1, not {}", options.count));
  if (!(options.temperature > 0) || !std::isfinite(options.temperature))
    throw Error(fmt::format("sample: the temperature must be positive, not {}", options.temperature));
  if (options.batch_size < 1 || options.batch_size > 65536)
    throw Error(fmt::format("sample: batch size must be in 1..65536, not {}", options.batch_size));
  torch::Device device = resolve_device(options.device);
  LoadedModel model = load_model(options.model, device);
  LoadedPrior prior = load_prior(options.prior, model, device);
  at::Generator gen = make_generator(options.seed);
  SampleReport report;
  const auto start = Clock::now();
  double sink_seconds = 0;  // what the caller does with the images is not sampling time
  while (report.images < options.count) {
    int64_t b = std::min<int64_t>(options.batch_size, options.count - report.images);
    auto maps = prior.net->sample(b, options.temperature, device, gen);
    auto images = decode_samples(model, prior.shape, maps).to(torch::kCPU);
    std::vector<Image> out;
    for (int64_t i = 0; i < b; ++i) out.push_back(tensor_to_image(images[i]));
    report.images += b;
    const auto sink_start = Clock::now();
    sink(std::move(out));
    sink_seconds += seconds_since(sink_start);
    if (options.progress) options.progress(report.images, options.count);
  }
  report.seconds = seconds_since(start) - sink_seconds;
  report.images_per_second = report.seconds > 0 ? report.images / report.seconds : 0;
  return report;
}

Image image_grid(const std::vector<Image>& images, int columns) {
  if (images.empty()) throw Error("image grid: no images");
  const int gap = 2;
  const Image& first = images[0];
  for (const auto& im : images)
    if (im.width != first.width || im.height != first.height || im.channels != first.channels)
      throw Error("image grid: the images differ in size");
  const int cols = std::max(1, std::min<int>(columns, static_cast<int>(images.size())));
  const int rows = (static_cast<int>(images.size()) + cols - 1) / cols;
  Image grid;
  grid.channels = first.channels;
  grid.width = cols * (first.width + gap) - gap;
  grid.height = rows * (first.height + gap) - gap;
  grid.pixels.assign(static_cast<size_t>(grid.width) * grid.height * grid.channels, 255);
  const size_t row_bytes = static_cast<size_t>(first.width) * first.channels;
  for (size_t k = 0; k < images.size(); ++k) {
    const int gx = static_cast<int>(k % cols) * (first.width + gap), gy = static_cast<int>(k / cols) * (first.height + gap);
    for (int y = 0; y < first.height; ++y)
      std::copy_n(images[k].pixels.data() + y * row_bytes, row_bytes,
                  grid.pixels.data() + ((static_cast<size_t>(gy) + y) * grid.width + gx) * grid.channels);
  }
  return grid;
}

GenFidReport evaluate_generation_fid(const GenFidOptions& options) {
  GenFidReport report;
  const auto start = Clock::now();
  // The weights are looked for first, so a missing file fails before any sampling.
  const std::string weights = find_inception_weights(options.inception);
  FidExtractor fid(FidOptions{options.fid_batch, options.sample.device});
  fid.load(weights);
  FidStatistics reference;
  if (is_fid_statistics_file(options.reference)) {
    reference = load_fid_statistics(options.reference);
  } else {
    auto data = open_dataset(options.reference, options.kind, options.subset);
    const int64_t total = static_cast<int64_t>(data->size());
    fid.set_progress([&](int64_t done) {
      if (options.progress) options.progress("reference", done, total);
    });
    for (size_t i = 0; i < data->size(); ++i) {
      try {
        fid.add(data->get(i));
      } catch (const Error&) {
        // A corrupt reference image is left out, as eval fid does.
      }
    }
    reference = fid.statistics();
    fid.reset();
  }
  report.reference = reference.count;
  SampleOptions so = options.sample;
  fid.set_progress(nullptr);
  if (options.progress) so.progress = [&](int64_t done, int64_t total) { options.progress("sampling", done, total); };
  SampleReport sr = sample_images(so, [&](std::vector<Image>&& batch) { fid.add(batch); });
  FidStatistics generated = fid.statistics();
  report.generated = generated.count;
  report.sample_seconds = sr.seconds;
  report.sample_images_per_second = sr.images_per_second;
  report.fid = frechet_distance(generated, reference);
  if (!std::isfinite(report.fid)) throw Error("FID: the distance is not finite (degenerate statistics)");
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace hrvq
