#include "progress.hpp"
#include "hrvq/trainer.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "adam.hpp"
#include "autocast.hpp"
#include "code_stats.hpp"
#include "device.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/model_file.hpp"
#include "model_io.hpp"
#include "networks.hpp"
#include "tensor_image.hpp"

namespace hrvq {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

FitMode fit_mode(const std::string& fit) {
  if (fit == "resize") return FitMode::Resize;
  if (fit == "center") return FitMode::CenterCrop;
  if (fit == "random") return FitMode::RandomCrop;
  throw Error(fmt::format("unknown fit '{}' (expected resize, center or random)", fit));
}

double psnr_from_mse(double mse) { return mse > 0 ? 10.0 * std::log10(1.0 / mse) : 99.0; }

// Rows of each quantizer layer, in code-map order (vq2: top then bottom).
std::vector<int64_t> table_rows(const ModelConfig& c) { return c.layer_table_sizes(); }

// Pairs every quantizer layer's result with its index map in the model's map order.
template <typename F>
void for_each_layer(const ModelConfig& c, const ForwardResult& r, F&& f) {
  for (size_t qi = 0; qi < r.quant.size(); ++qi)
    for (size_t i = 0; i < r.quant[qi].global.size(); ++i)
      f(c.map_index(static_cast<int>(qi), static_cast<int>(i)), r.quant[qi], i);
}

struct Checkpoint {
  int64_t step = 0;
  uint64_t epoch = 0, batch = 0;
  std::string rng;
};

void write_grid(HrvqModel& model, const torch::Tensor& originals, const std::string& path) {
  torch::NoGradGuard no_grad;
  bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> rows{originals};
  int n = model->config().num_layers();
  for (int k = 1; k <= n; ++k) rows.push_back(model->forward(originals, k).reconstruction);
  model->train(was_training);
  write_image(make_grid(rows), path, ImageFormat::Png);
}

}  // namespace

std::vector<std::vector<uint64_t>> gather_code_counts(HrvqModel& model, const Dataset& dataset, const TrainConfig& t,
                                                      torch::Device device, int threads, int64_t max_images) {
  torch::NoGradGuard no_grad;
  bool was_training = model->is_training();
  model->eval();
  const ModelConfig& c = model->config();
  CodeStats stats(table_rows(c));
  TransformOptions tr;
  tr.channels = c.image_channels;
  LoaderOptions lo;
  if (t.fit == "random") {
    // Trained on crops of whole images: the codec will see whole images, so count on
    // those (one per batch, as their sizes differ), which also gives the entropy model
    // far more samples per context than one crop per image would.
    tr.size = 0;
    lo.batch_size = 1;
  } else {
    tr.size = t.image_size;
    tr.fit = t.fit == "resize" ? FitMode::Resize : FitMode::CenterCrop;
    lo.batch_size = 64;
  }
  lo.threads = threads;
  BatchLoader loader(dataset, tr, lo);
  int64_t seen = 0;
  size_t batches = loader.batches_per_epoch();
  for (size_t b = 0; b < batches && seen < max_images; ++b) {
    Batch batch = loader.next();
    auto x = batch_to_tensor(batch).to(device);
    auto maps = model->encode(x);
    add_code_stats(c, model->quantizers(), maps, stats);
    seen += static_cast<int64_t>(batch.count);
  }
  model->train(was_training);
  return stats.all_counts();
}

TrainSummary train(const TrainOptions& options) {
  TrainSummary summary;
  if (options.output.empty()) throw Error("train: an output model path is needed (-o MODEL.hrvqm)");
  const std::string ckpt_path = options.checkpoint.empty() ? options.output + ".ckpt" : options.checkpoint;
  const std::string log_path = options.log_path.empty() ? options.output + ".log.jsonl" : options.log_path;
  const std::string grid_path = options.grid_path.empty() ? options.output + ".grid.png" : options.grid_path;
  torch::Device device = resolve_device(options.device);
  if (options.amp && !device.is_cuda() && !options.quiet)
    fmt::print(stderr, "hrvq: warning: --amp applies to CUDA only; training in fp32 on the CPU\n");
  const bool use_amp = options.amp && device.is_cuda();

  ModelConfig mc = options.model;
  TrainConfig tc = options.train;
  std::unique_ptr<LoadedModelFile> resumed;
  if (options.resume) {
    if (!file_exists(ckpt_path)) throw Error(fmt::format("{}: no checkpoint to resume from", ckpt_path));
    resumed = std::make_unique<LoadedModelFile>(open_model_file(ckpt_path));
    resumed->file.metadata.set_name(ckpt_path);
    // The run continues as it started: its configuration comes from the checkpoint; only
    // the number of steps may be raised to train further.
    mc = read_model_config(resumed->file.metadata);
    int64_t steps = tc.steps;
    tc = read_train_config(resumed->file.metadata);
    const int64_t at = resumed->file.metadata.get_int("train.state.step");
    if (options.steps_explicit && steps < at)
      throw Error(fmt::format("{}: the checkpoint is at step {}; --steps {} would end the run before it", ckpt_path,
                              at, steps));
    // Ending a run earlier than planned shortens its learning-rate schedule from here on;
    // ending it at the checkpoint's step writes the final model without training further.
    tc.steps = options.steps_explicit ? steps : std::max(tc.steps, steps);
  }
  mc.validate();
  if (tc.batch_size < 1 || tc.batch_size > 65536) throw Error(fmt::format("batch size must be in 1..65536, not {}", tc.batch_size));
  if (tc.image_size < 1 || tc.image_size > 16384) throw Error(fmt::format("image size must be in 1..16384, not {}", tc.image_size));
  if (tc.steps < 0) throw Error("steps must be >= 0");
  if (!(tc.lr > 0)) throw Error("learning rate must be positive");
  if (tc.layer_dropout < 0 || tc.layer_dropout > 1) throw Error("layer dropout must be in [0, 1]");
  if (tc.lr_schedule != "constant" && tc.lr_schedule != "cosine")
    throw Error(fmt::format("unknown learning-rate schedule '{}' (expected constant or cosine)", tc.lr_schedule));
  if (!(tc.lr_final_factor >= 0 && tc.lr_final_factor <= 1)) throw Error("final learning-rate factor must be in [0, 1]");
  if (tc.warmup < 0) throw Error("warm-up steps must be >= 0");
  if (tc.checkpoint_every <= 0) tc.checkpoint_every = tc.steps > 0 ? tc.steps : 1;
  if (tc.log_every <= 0) tc.log_every = 50;

  auto dataset = open_dataset(options.data, options.kind, options.subset);
  TransformOptions transform;
  transform.size = tc.image_size;
  transform.channels = mc.image_channels;
  transform.fit = fit_mode(tc.fit);
  transform.random_flip = tc.flip;
  LoaderOptions lo;
  lo.batch_size = static_cast<size_t>(tc.batch_size);
  lo.shuffle = true;
  lo.drop_last = dataset->size() >= static_cast<size_t>(tc.batch_size);
  lo.seed = tc.seed;
  lo.threads = std::max(1, options.loader_threads);
  BatchLoader loader(*dataset, transform, lo);

  // The grid shows the same images at every checkpoint: the dataset's first ones.
  torch::Tensor grid_images;
  {
    TransformOptions gt = transform;
    gt.fit = transform.fit == FitMode::RandomCrop ? FitMode::CenterCrop : transform.fit;
    gt.random_flip = false;
    LoaderOptions glo;
    glo.batch_size = std::min<size_t>(8, dataset->size());
    glo.threads = 1;
    BatchLoader grid_loader(*dataset, gt, glo);
    grid_images = batch_to_tensor(grid_loader.next()).to(device);
  }

  torch::manual_seed(tc.seed);
  HrvqModel model(mc);
  if (tc.icnr) apply_icnr(*model);
  if (!options.init_from.empty() && !resumed) {
    // The quantizer is not taken over: its codebooks are initialised from this run's data
    // at the first step, so another quantizer layout (or baseline) can follow.
    LoadedModelFile init = open_model_file(options.init_from);
    init.file.metadata.set_name(options.init_from);
    const int copied = load_matching_weights(model, init.file, "quantizer");
    if (copied == 0)
      throw Error(fmt::format("{}: --init found no tensor matching this model's encoder or decoder", options.init_from));
    if (!options.quiet) fmt::print(stderr, "initialised {} tensors from {}\n", copied, options.init_from);
  }
  std::mt19937_64 rng(tc.seed ^ 0x9e3779b97f4a7c15ull);
  Checkpoint state;
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  if (resumed) {
    load_weights(model, resumed->file);
    const Metadata& meta = resumed->file.metadata;
    state.step = meta.get_int("train.state.step");
    state.epoch = static_cast<uint64_t>(meta.get_int("train.state.epoch"));
    state.batch = static_cast<uint64_t>(meta.get_int("train.state.batch"));
    std::istringstream(meta.get_string("train.state.rng")) >> rng;
    loader.seek(state.epoch, state.batch);
  }
  model->to(device);
  params.clear();
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  Adam adam(params, tc.lr);
  if (resumed) adam.load(resumed->file);
  model->train();

  const int n_layers = mc.num_layers();
  CodeStats window_stats(table_rows(mc));
  std::ofstream log(log_path, options.resume ? std::ios::app : std::ios::trunc);
  if (!log) throw Error(fmt::format("{}: cannot open the training log for writing", log_path));

  auto save_checkpoint = [&](int64_t step) {
    ModelFile f;
    f.metadata.set_name(ckpt_path);
    write_model_config(mc, f.metadata);
    write_train_config(tc, f.metadata);
    f.metadata.set_string("train.data", options.data);
    if (!options.init_from.empty()) f.metadata.set_string("train.init", options.init_from);
    f.metadata.set_int("train.state.step", step);
    f.metadata.set_int("train.state.epoch", static_cast<int64_t>(loader.epoch()));
    f.metadata.set_int("train.state.batch", static_cast<int64_t>(loader.batch_in_epoch()));
    std::ostringstream rs;
    rs << rng;
    f.metadata.set_string("train.state.rng", rs.str());
    store_weights(model, f);
    adam.save(f);
    save_model_file(f, ckpt_path);
    write_grid(model, grid_images, grid_path);
  };

  std::signal(SIGINT, options.handle_sigint ? on_sigint : SIG_DFL);
  g_interrupted.store(false);

  auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  int64_t window_images = 0, window_steps = 0;
  double window_loss = 0, window_recon = 0, window_cb = 0, window_commit = 0;
  int64_t reseeded = 0;
  int64_t first_step = state.step;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  int64_t step = state.step;
  while (step < tc.steps) {
    Batch batch = loader.next();
    auto x = batch_to_tensor(batch).to(device);
    int k = 0;
    if (tc.layer_dropout > 0 && uniform(rng) < tc.layer_dropout) k = 1 + static_cast<int>(rng() % n_layers);
    ForwardResult result;
    {
      CudaAutocast autocast(use_amp);
      result = model->forward(x, k);
    }
    double loss_value = result.loss.item<double>();
    if (!std::isfinite(loss_value))
      throw Error(fmt::format("training diverged at step {}: the loss is {}; the last good checkpoint {} is kept "
                              "(try a lower --lr)", step + 1, loss_value, file_exists(ckpt_path) ? ckpt_path : "(none yet)"));
    adam.zero_grad();
    result.loss.backward();
    const double lr_now = learning_rate_at(tc, step);
    adam.set_lr(lr_now);
    adam.step();
    ++step;
    auto quants = model->quantizers();
    for (size_t qi = 0; qi < quants.size(); ++qi) {
      quants[qi]->ema_update(result.quant[qi]);
      quants[qi]->mark_used(result.quant[qi], step);
      reseeded += quants[qi]->reseed_dead(result.quant[qi], step, tc.reseed_after, rng);
    }
    for_each_layer(mc, result, [&](int layer, const QuantizeResult& q, size_t i) { window_stats.add(layer, q.global[i]); });
    window_images += static_cast<int64_t>(batch.count);
    ++window_steps;
    window_loss += loss_value;
    window_recon += result.recon_loss.item<double>();
    window_cb += result.codebook_loss.item<double>();
    window_commit += result.commitment_loss.item<double>();
    summary.final_loss = loss_value;

    bool interrupted = g_interrupted.load() || (options.stop_after >= 0 && step >= options.stop_after);
    if (step % tc.log_every == 0 || step == tc.steps || interrupted) {
      auto now = std::chrono::steady_clock::now();
      double window_s = std::chrono::duration<double>(now - window_start).count();
      double total_s = std::chrono::duration<double>(now - start).count();
      double ips = window_s > 0 ? window_images / window_s : 0;
      double steps_per_s = total_s > 0 ? (step - first_step) / total_s : 0;
      double eta = steps_per_s > 0 ? (tc.steps - step) / steps_per_s : NAN;
      double mse = window_recon / window_steps;
      summary.final_mse = mse;
      std::string usage_text;
      std::vector<std::string> usage_json, ppl_json;
      for (int l = 0; l < n_layers; ++l) {
        usage_text += fmt::format(" L{} {}/{} ppl {:.1f}", l + 1, window_stats.used(l), window_stats.counts(l).size(),
                                  window_stats.perplexity(l));
        usage_json.push_back(fmt::format("{:.4f}", window_stats.usage(l)));
        ppl_json.push_back(fmt::format("{:.3f}", window_stats.perplexity(l)));
      }
      if (!options.quiet)
        fmt::print(stderr, "step {}/{} epoch {} loss {:.5f} (rec {:.5f} cb {:.5f} com {:.5f}) psnr {:.2f} dB |{} | {:.0f} img/s | ETA {}\n",
                   step, tc.steps, loader.epoch() + 1, window_loss / window_steps, mse, window_cb / window_steps,
                   window_commit / window_steps, psnr_from_mse(mse), usage_text, ips, format_duration(eta));
      log << fmt::format(
          "{{\"step\":{},\"epoch\":{},\"loss\":{:.7g},\"recon\":{:.7g},\"codebook\":{:.7g},\"commitment\":{:.7g},"
          "\"mse\":{:.7g},\"psnr\":{:.4f},\"usage\":[{}],\"perplexity\":[{}],\"reseeded\":{},\"images_per_s\":{:.2f},"
          "\"elapsed_s\":{:.2f},\"eta_s\":{:.1f},\"lr\":{:.6g}}}\n",
          step, loader.epoch() + 1, window_loss / window_steps, mse, window_cb / window_steps,
          window_commit / window_steps, mse, psnr_from_mse(mse), fmt::join(usage_json, ","), fmt::join(ppl_json, ","),
          reseeded, ips, total_s, std::isfinite(eta) ? eta : -1.0, lr_now);
      log.flush();
      window_stats.clear();
      window_start = now;
      window_images = window_steps = 0;
      window_loss = window_recon = window_cb = window_commit = 0;
    }
    if (interrupted) {
      save_checkpoint(step);
      if (!options.quiet) fmt::print(stderr, "interrupted at step {}: checkpoint {} written; continue with --resume\n", step, ckpt_path);
      summary.interrupted = true;
      break;
    }
    if (step % tc.checkpoint_every == 0 || step == tc.steps) save_checkpoint(step);
  }
  std::signal(SIGINT, SIG_DFL);
  summary.steps = step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.skipped_images = loader.skipped();
  if (summary.interrupted) return summary;

  if (step == state.step && !file_exists(ckpt_path)) save_checkpoint(step);
  // The final model: weights, configuration, and the code counts the entropy coder needs.
  ModelFile f;
  f.metadata.set_name(options.output);
  write_model_config(mc, f.metadata);
  write_train_config(tc, f.metadata);
  f.metadata.set_string("train.data", options.data);
  if (!options.init_from.empty()) f.metadata.set_string("train.init", options.init_from);
  f.metadata.set_int("train.state.step", step);
  store_weights(model, f);
  auto counts = gather_code_counts(model, *dataset, tc, device, lo.threads, tc.count_images);
  store_code_counts(counts, f);
  save_model_file(f, options.output);
  if (!options.quiet) {
    fmt::print(stderr, "trained {} steps in {}; model {} written", step - first_step, format_duration(summary.seconds), options.output);
    if (loader.skipped()) fmt::print(stderr, "; {} corrupt images skipped", loader.skipped());
    fmt::print(stderr, "\n");
  }
  return summary;
}

}  // namespace hrvq
