#include "progress.hpp"
#include "hrvq/trainer.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "adam.hpp"
#include "autocast.hpp"
#include "code_stats.hpp"
#include "device.hpp"
#include "distributed.hpp"
#include "gradient_sync.hpp"
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

// Items [begin, begin + count) of a dataset.
class ItemRange final : public Dataset {
 public:
  ItemRange(const Dataset& all, size_t begin, size_t count) : all_(all), begin_(begin), count_(count) {}
  size_t size() const override { return count_; }
  Image get(size_t index) const override { return all_.get(begin_ + index); }
  std::string item_name(size_t index) const override { return all_.item_name(begin_ + index); }
  DatasetKind kind() const override { return all_.kind(); }

 private:
  const Dataset& all_;
  size_t begin_, count_;
};

bool quantizers_initialized(HrvqModel& model) {
  for (auto& q : model->quantizers())
    if (!q->initialized()) return false;
  return true;
}

// One step's codebook upkeep in a job of several ranks, leaving every rank with the same
// codebooks: EMA statistics and code usage are summed over the ranks before use, and
// dead codes (the same on every rank, as usage is shared) are reseeded from the residuals
// of the whole global batch, gathered in rank order, with the rng all ranks share.
int64_t maintain_codebooks_across_ranks(std::vector<ResidualQuantizer>& quants, const ForwardResult& result, int64_t step,
                                        int64_t reseed_after, std::mt19937_64& rng, Communicator& comm) {
  std::vector<torch::Tensor> shared;
  std::vector<size_t> ema_begin, used_begin;
  for (size_t qi = 0; qi < quants.size(); ++qi) {
    ema_begin.push_back(shared.size());
    for (auto& t : quants[qi]->ema_batch_stats(result.quant[qi])) shared.push_back(t);
    used_begin.push_back(shared.size());
    for (auto& t : quants[qi]->used_rows(result.quant[qi])) shared.push_back(t);
  }
  comm.all_reduce_sum(shared, "codebook-statistics all-reduce");
  int64_t reseeded = 0;
  for (size_t qi = 0; qi < quants.size(); ++qi) {
    auto& q = quants[qi];
    const size_t end = qi + 1 < quants.size() ? ema_begin[qi + 1] : shared.size();
    auto at = [&](size_t i) { return shared.begin() + static_cast<std::ptrdiff_t>(i); };
    q->ema_apply(std::vector<torch::Tensor>(at(ema_begin[qi]), at(used_begin[qi])));
    q->mark_used_rows(std::vector<torch::Tensor>(at(used_begin[qi]), at(end)), step);
    if (!q->has_dead(step, reseed_after)) continue;
    const QuantizeResult& mine = result.quant[qi];
    QuantizeResult all;
    for (size_t i = 0; i < mine.residuals.size(); ++i) {
      all.residuals.push_back(comm.all_gather_rows(mine.residuals[i], "gathering reseed candidates"));
      all.global.push_back(comm.all_gather_rows(mine.global[i], "gathering reseed candidates"));
      all.local.push_back(comm.all_gather_rows(mine.local[i], "gathering reseed candidates"));
    }
    reseeded += q->reseed_dead(all, step, reseed_after, rng);
  }
  return reseeded;
}

}  // namespace

std::vector<std::vector<uint64_t>> gather_code_counts(HrvqModel& model, const Dataset& dataset, const TrainConfig& t,
                                                      torch::Device device, int threads, int64_t max_images,
                                                      Communicator* comm) {
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
  std::unique_ptr<Dataset> share;
  const Dataset* source = &dataset;
  if (comm && comm->world_size() > 1) {
    // The images one process would count (whole batches until max_images), each rank
    // taking a contiguous share; counts are sums, so the total is the one-process count.
    const size_t bs = lo.batch_size, world = static_cast<size_t>(comm->world_size());
    const size_t rank = static_cast<size_t>(comm->rank());
    const size_t wanted = max_images <= 0 ? 0 : (static_cast<size_t>(max_images) + bs - 1) / bs * bs;
    const size_t n = std::min(dataset.size(), wanted);
    const size_t begin = n * rank / world, end = n * (rank + 1) / world;
    share = std::make_unique<ItemRange>(dataset, begin, end - begin);
    source = share.get();
    max_images = std::numeric_limits<int64_t>::max();
  }
  std::unique_ptr<BatchLoader> loader_ptr;
  if (source->size() > 0) loader_ptr = std::make_unique<BatchLoader>(*source, tr, lo);
  int64_t seen = 0;
  size_t batches = loader_ptr ? loader_ptr->batches_per_epoch() : 0;
  for (size_t b = 0; b < batches && seen < max_images; ++b) {
    Batch batch = loader_ptr->next();
    auto x = batch_to_tensor(batch).to(device);
    auto maps = model->encode(x);
    add_code_stats(c, model->quantizers(), maps, stats);
    seen += static_cast<int64_t>(batch.count);
  }
  model->train(was_training);
  auto counts = stats.all_counts();
  if (comm) comm->all_reduce_counts(counts, "code-count all-reduce");
  return counts;
}

TrainSummary train(const TrainOptions& options) {
  TrainSummary summary;
  if (options.output.empty()) throw Error("train: an output model path is needed (-o MODEL.hrvqm)");
  const std::string ckpt_path = options.checkpoint.empty() ? options.output + ".ckpt" : options.checkpoint;
  const std::string log_path = options.log_path.empty() ? options.output + ".log.jsonl" : options.log_path;
  const std::string grid_path = options.grid_path.empty() ? options.output + ".grid.png" : options.grid_path;
  torch::Device device = resolve_device(options.device);
  // A job of one unless torchrun (or the same variables) says otherwise.
  std::unique_ptr<Communicator> comm = join_job_from_environment(options.dist_backend, options.dist_timeout_s, device);
  const int world = comm->world_size();
  const bool root = comm->is_root();
  // Only rank 0 speaks; every rank still fails with its own one-line error.
  const bool quiet = options.quiet || !root;
  if (options.amp && !device.is_cuda() && options.precision == Precision::Fp32 && !quiet)
    fmt::print(stderr, "hrvq: warning: --amp applies to CUDA only; training in fp32 on the CPU "
                       "(--precision bf16 for the CPU)\n");
  const bool use_amp = options.precision == Precision::Bf16 || (options.amp && device.is_cuda());
  if (use_amp && !bf16_convolutions_available(device))
    throw Error("--precision bf16 needs a CPU with AVX-512 (or a CUDA device); this one has no bf16 "
                "convolutions (use fp32)");

  ModelConfig mc = options.model;
  TrainConfig tc = options.train;
  std::unique_ptr<LoadedModelFile> resumed;
  if (options.resume) {
    if (world == 1 && !file_exists(ckpt_path)) throw Error(fmt::format("{}: no checkpoint to resume from", ckpt_path));
    resumed = std::make_unique<LoadedModelFile>(open_model_on_root(*comm, ckpt_path, "reading the checkpoint"));
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
  // --batch is per rank: the job steps on batch * world images, split by rank.
  const size_t global_batch = static_cast<size_t>(tc.batch_size) * static_cast<size_t>(world);
  lo.shard_index = static_cast<size_t>(comm->rank());
  lo.shard_count = static_cast<size_t>(world);
  if (world > 1 && dataset->size() < global_batch)
    throw Error(fmt::format("{}: {} images make no global batch of {} ({} ranks x --batch {})", options.data,
                            dataset->size(), global_batch, world, tc.batch_size));
  lo.drop_last = dataset->size() >= global_batch;
  lo.seed = tc.seed;
  lo.threads = std::max(1, options.loader_threads);
  BatchLoader loader(*dataset, transform, lo);

  // The grid shows the same images at every checkpoint: the dataset's first ones.
  torch::Tensor grid_images;
  if (root) {
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
    LoadedModelFile init = open_model_on_root(*comm, options.init_from, "reading the --init model");
    init.file.metadata.set_name(options.init_from);
    const int copied = load_matching_weights(model, init.file, "quantizer");
    if (copied == 0)
      throw Error(fmt::format("{}: --init found no tensor matching this model's encoder or decoder", options.init_from));
    if (!quiet) fmt::print(stderr, "initialised {} tensors from {}\n", copied, options.init_from);
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
    // A checkpoint's position counts global batches of its own job size. Another job size
    // continues from the same images seen (rounded down to a whole batch): not bit-exact.
    const int64_t saved_world = meta.has("train.state.world_size") ? meta.get_int("train.state.world_size") : 1;
    if (saved_world != world) {
      if (saved_world < 1 || saved_world > (1 << 16))
        throw Error(fmt::format("{}: train.state.world_size {} is out of range", ckpt_path, saved_world));
      state.batch = state.batch * static_cast<uint64_t>(saved_world) / static_cast<uint64_t>(world);
      if (!quiet)
        fmt::print(stderr, "hrvq: warning: {} was written by a job of {} rank(s), this one has {}: the run continues "
                           "from the same point of its data, but not bit-exactly\n", ckpt_path, saved_world, world);
    }
    if (state.batch >= loader.batches_per_epoch()) state.batch = 0, ++state.epoch;
    loader.seek(state.epoch, state.batch);
  }
  model->to(device);
  // Same seed, same file: the ranks already agree, and this makes sure of it.
  comm->broadcast_module(*model, "broadcasting the initial weights");
  params.clear();
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  Adam adam(params, tc.lr);
  if (resumed) adam.load(resumed->file);
  model->train();
  std::vector<torch::Tensor> param_tensors;
  for (auto& p : params) param_tensors.push_back(p.second);
  const GradientOverlap overlap = gradient_overlap_for(options.dist_overlap, device);
  auto sync = make_gradient_sync(param_tensors, *comm, overlap, options.dist_bucket_bytes);
  GradientSync& grad_sync = *sync;
  if (world > 1 && !quiet)
    fmt::print(stderr, "data-parallel: {} ranks x batch {} = global batch {}; {} gradient bytes all-reduced per step in {} "
                       "bucket(s) over {}{}\n", world, tc.batch_size, global_batch, grad_sync.bytes_per_step(),
               grad_sync.buckets(), device.is_cuda() ? "nccl" : "gloo",
               overlap == GradientOverlap::Overlapped ? ", overlapped with the backward pass" : "");

  const int n_layers = mc.num_layers();
  CodeStats window_stats(table_rows(mc));
  std::ofstream log;
  if (root) {
    log.open(log_path, options.resume ? std::ios::app : std::ios::trunc);
    if (!log) throw Error(fmt::format("{}: cannot open the training log for writing", log_path));
  }

  auto save_checkpoint = [&](int64_t step) {
    comm->check_replicas_agree(*model, step);
    if (!root) return;
    ModelFile f;
    f.metadata.set_name(ckpt_path);
    write_model_config(mc, f.metadata);
    write_train_config(tc, f.metadata);
    f.metadata.set_string("train.data", options.data);
    if (!options.init_from.empty()) f.metadata.set_string("train.init", options.init_from);
    f.metadata.set_int("train.state.step", step);
    f.metadata.set_int("train.state.epoch", static_cast<int64_t>(loader.epoch()));
    f.metadata.set_int("train.state.batch", static_cast<int64_t>(loader.batch_in_epoch()));
    if (world > 1) f.metadata.set_int("train.state.world_size", world);
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
    if (world > 1 && !quantizers_initialized(model)) {
      // Codebooks start from the data of the first step: from the whole global batch, in
      // rank order, so every rank starts from the same codebooks (those of one process
      // with the whole batch).
      torch::NoGradGuard no_grad;
      model->forward(comm->all_gather_rows(x, "gathering the first batch"), 0);
    }
    ForwardResult result;
    {
      Autocast autocast(device, use_amp);
      result = model->forward(x, k);
    }
    double loss_value = result.loss.item<double>();
    double recon_value = 0, cb_value = 0, commit_value = 0;
    int64_t step_images = static_cast<int64_t>(batch.count);
    bool stop_requested = g_interrupted.load();
    if (world > 1) {
      // The job's loss (the mean over the global batch) decides divergence on every rank
      // alike, and one rank's Ctrl-C stops all of them at the same step.
      const double n = static_cast<double>(batch.count);
      auto scalars = torch::tensor({loss_value * n, result.recon_loss.item<double>() * n,
                                    result.codebook_loss.item<double>() * n, result.commitment_loss.item<double>() * n,
                                    n, stop_requested ? 1.0 : 0.0}, torch::kFloat64);
      comm->all_reduce_sum(scalars, "loss all-reduce");
      auto sc = scalars.accessor<double, 1>();
      loss_value = sc[0] / sc[4];
      recon_value = sc[1] / sc[4];
      cb_value = sc[2] / sc[4];
      commit_value = sc[3] / sc[4];
      step_images = static_cast<int64_t>(sc[4]);
      stop_requested = sc[5] > 0;
    }
    if (!std::isfinite(loss_value))
      throw Error(fmt::format("training diverged at step {}: the loss is {}; the last good checkpoint {} is kept "
                              "(try a lower --lr)", step + 1, loss_value, file_exists(ckpt_path) ? ckpt_path : "(none yet)"));
    adam.zero_grad();
    result.loss.backward();
    grad_sync.average();
    const double lr_now = learning_rate_at(tc, step);
    adam.set_lr(lr_now);
    adam.step();
    ++step;
    auto quants = model->quantizers();
    if (world == 1) {
      for (size_t qi = 0; qi < quants.size(); ++qi) {
        quants[qi]->ema_update(result.quant[qi]);
        quants[qi]->mark_used(result.quant[qi], step);
        reseeded += quants[qi]->reseed_dead(result.quant[qi], step, tc.reseed_after, rng);
      }
    } else {
      reseeded += maintain_codebooks_across_ranks(quants, result, step, tc.reseed_after, rng, *comm);
    }
    for_each_layer(mc, result, [&](int layer, const QuantizeResult& q, size_t i) { window_stats.add(layer, q.global[i]); });
    window_images += step_images;
    ++window_steps;
    window_loss += loss_value;
    if (world == 1) {
      recon_value = result.recon_loss.item<double>();
      cb_value = result.codebook_loss.item<double>();
      commit_value = result.commitment_loss.item<double>();
    }
    window_recon += recon_value;
    window_cb += cb_value;
    window_commit += commit_value;
    summary.final_loss = loss_value;

    if (world == 1) stop_requested = g_interrupted.load();
    bool interrupted = stop_requested || (options.stop_after >= 0 && step >= options.stop_after);
    if (step % tc.log_every == 0 || step == tc.steps || interrupted) {
      if (world > 1) {
        auto counts = window_stats.all_counts();
        comm->all_reduce_counts(counts, "code-usage all-reduce");
        window_stats.set_all_counts(std::move(counts));
      }
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
      if (!quiet)
        fmt::print(stderr, "step {}/{} epoch {} loss {:.5f} (rec {:.5f} cb {:.5f} com {:.5f}) psnr {:.2f} dB |{} | {:.0f} img/s | ETA {}\n",
                   step, tc.steps, loader.epoch() + 1, window_loss / window_steps, mse, window_cb / window_steps,
                   window_commit / window_steps, psnr_from_mse(mse), usage_text, ips, format_duration(eta));
      if (root) log << fmt::format(
          "{{\"step\":{},\"epoch\":{},\"loss\":{:.7g},\"recon\":{:.7g},\"codebook\":{:.7g},\"commitment\":{:.7g},"
          "\"mse\":{:.7g},\"psnr\":{:.4f},\"usage\":[{}],\"perplexity\":[{}],\"reseeded\":{},\"images_per_s\":{:.2f},"
          "\"elapsed_s\":{:.2f},\"eta_s\":{:.1f},\"lr\":{:.6g}}}\n",
          step, loader.epoch() + 1, window_loss / window_steps, mse, window_cb / window_steps,
          window_commit / window_steps, mse, psnr_from_mse(mse), fmt::join(usage_json, ","), fmt::join(ppl_json, ","),
          reseeded, ips, total_s, std::isfinite(eta) ? eta : -1.0, lr_now);
      if (root) log.flush();
      window_stats.clear();
      window_start = now;
      window_images = window_steps = 0;
      window_loss = window_recon = window_cb = window_commit = 0;
    }
    if (interrupted) {
      save_checkpoint(step);
      if (!quiet) fmt::print(stderr, "interrupted at step {}: checkpoint {} written; continue with --resume\n", step, ckpt_path);
      summary.interrupted = true;
      break;
    }
    if (step % tc.checkpoint_every == 0 || step == tc.steps) save_checkpoint(step);
  }
  std::signal(SIGINT, SIG_DFL);
  summary.steps = step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.skipped_images = loader.skipped();
  summary.rank = comm->rank();
  summary.world_size = world;
  summary.allreduce_seconds = grad_sync.seconds();
  summary.allreduce_bytes_per_step = grad_sync.bytes_per_step();
  if (summary.interrupted) return summary;

  // (In a job every rank must take the same branch: ranks on other machines cannot see
  // rank 0's files, so there it is written unconditionally.)
  if (step == state.step && (world > 1 || !file_exists(ckpt_path))) save_checkpoint(step);
  // The final model: weights, configuration, and the code counts the entropy coder needs.
  ModelFile f;
  f.metadata.set_name(options.output);
  write_model_config(mc, f.metadata);
  write_train_config(tc, f.metadata);
  f.metadata.set_string("train.data", options.data);
  if (!options.init_from.empty()) f.metadata.set_string("train.init", options.init_from);
  f.metadata.set_int("train.state.step", step);
  store_weights(model, f);
  auto counts = gather_code_counts(model, *dataset, tc, device, lo.threads, tc.count_images, comm.get());
  store_code_counts(counts, f);
  if (root) save_model_file(f, options.output);
  // Every rank ends when the model is on disk, so the job's exit status covers writing it.
  comm->barrier("the final barrier");
  if (!quiet) {
    fmt::print(stderr, "trained {} steps in {}; model {} written", step - first_step, format_duration(summary.seconds), options.output);
    if (world > 1 && step > first_step)
      fmt::print(stderr, "; gradient all-reduce {:.2f} ms per step ({} bytes)", 1e3 * grad_sync.seconds() / double(step - first_step),
                 grad_sync.bytes_per_step());
    if (loader.skipped()) fmt::print(stderr, "; {} corrupt images skipped", loader.skipped());
    fmt::print(stderr, "\n");
  }
  return summary;
}

}  // namespace hrvq
