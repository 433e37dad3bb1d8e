// hrvq train-prior   train the autoregressive code prior of a model
// hrvq sample        images from a model and its prior
// hrvq eval gen      FID of sampled images against a reference set
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/error.hpp"
#include "hrvq/image.hpp"
#include "hrvq/prior.hpp"

namespace hrvq::cli {

namespace {

bool live_progress() { return !globals().quiet && isatty(2); }

}  // namespace

void register_train_prior(CLI::App& app) {
  struct Args {
    PriorTrainOptions options;
    std::string dataset = "auto", subset, holdout;
    bool json = false, eval_only = false;
  };
  auto args = std::make_shared<Args>();
  auto& a = *args;
  auto& o = a.options;
  auto* cmd = app.add_subcommand("train-prior", "Train an autoregressive prior (gated PixelCNN) over a model's code maps");
  cmd->add_option("-m,--model", o.model, "Autoencoder model file")->required();
  cmd->add_option("--data", o.data, "Dataset path")->required();
  cmd->add_option("--dataset", a.dataset, "auto|mnist|cifar10|ffhq|imagenet|folder")->capture_default_str();
  cmd->add_option("--subset", a.subset, "START:END: training items");
  auto* holdout = cmd->add_option("--holdout", a.holdout, "START:END: held-out items of --data");
  cmd->add_option("--val-data", o.val_data, "Held-out dataset (instead of --holdout)")->excludes(holdout);
  cmd->add_option("-o,--output", o.output, "Prior file to write (.hrvqm)")->required();
  cmd->add_option("--steps", o.steps, "Training steps")->capture_default_str();
  cmd->add_option("-b,--batch", o.batch_size, "Batch size (images)")->capture_default_str();
  cmd->add_option("--lr", o.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--channels", o.prior.channels, "Width of the gated stacks")->capture_default_str();
  cmd->add_option("--layers,--depth", o.prior.depth, "Gated layers per code layer")->capture_default_str();
  cmd->add_option("--kernel", o.prior.kernel, "Kernel size (odd)")->capture_default_str();
  cmd->add_option("--embed", o.prior.embed, "Embedding size of earlier layers' codes")->capture_default_str();
  cmd->add_option("--cond-channels", o.prior.cond_channels, "Width of the conditioning network")->capture_default_str();
  cmd->add_option("--cond-blocks", o.prior.cond_blocks, "Residual blocks of the conditioning network")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of initialisation and batch order")->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Checkpoint (and held-out evaluation) interval in steps");
  cmd->add_option("--log-every", o.log_every, "Progress interval in steps")->capture_default_str();
  cmd->add_flag("--resume", o.resume, "Continue from the checkpoint (OUTPUT.ckpt)");
  cmd->add_option("--checkpoint", o.checkpoint, "Checkpoint path (default OUTPUT.ckpt)");
  cmd->add_option("--log", o.log_path, "JSONL log (default OUTPUT.log.jsonl)");
  cmd->add_option("--device", o.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_option("--loader-threads", o.loader_threads, "Image decoding threads")->capture_default_str();
  cmd->add_flag("--eval-only", a.eval_only, "Only measure the existing prior OUTPUT on the held-out items");
  cmd->add_option("--dist-backend", o.dist_backend, "Under torchrun: c10d backend auto|gloo|nccl")->capture_default_str();
  cmd->add_option("--dist-timeout", o.dist_timeout_s, "Under torchrun: seconds a rank waits for its peers before the job fails")->capture_default_str();
  cmd->add_option("--dist-overlap", o.dist_overlap, "Under torchrun: the gradient all-reduce during the backward pass (on) or after it (off); auto: on for CUDA, off on the CPU; same weights either way")
      ->check(CLI::IsMember({"auto", "on", "off"}))->capture_default_str();
  cmd->add_option("--stop-after", o.stop_after, "Stop as on Ctrl-C after this step")->group("");
  cmd->add_option("--dist-bucket-bytes", o.dist_bucket_bytes, "Gradient bucket size in bytes (tests)")->group("");
  cmd->add_flag("--json", a.json, "Print a JSON summary on stdout");
  cmd->callback([args] {
    auto& x = *args;
    auto& opt = x.options;
    opt.kind = parse_dataset_kind(x.dataset);
    if (!x.subset.empty()) opt.subset = parse_subset(x.subset);
    if (!x.holdout.empty()) opt.holdout = parse_subset(x.holdout), opt.has_holdout = true;
    opt.quiet = globals().quiet;
    if (x.eval_only) {
      if (!opt.has_holdout && opt.val_data.empty()) throw Error("train-prior --eval-only: give --holdout or --val-data");
      PriorEvaluation e = opt.has_holdout
                              ? evaluate_prior(opt.model, opt.output, opt.data, opt.kind, opt.holdout, opt.device)
                              : evaluate_prior(opt.model, opt.output, opt.val_data, opt.kind, Subset{}, opt.device);
      fmt::print("{}\n", x.json ? prior_evaluation_json(e) : prior_evaluation_table(e));
      return;
    }
    PriorTrainReport r = train_prior(opt);
    if (r.rank != 0) {
      if (r.interrupted) throw CLI::RuntimeError(130);
      return;
    }
    if (x.json) {
      fmt::print("{{\"steps\":{},\"seconds\":{:.2f},\"train_images\":{},\"bits_per_code\":{:.6f},\"interrupted\":{}",
                 r.steps, r.seconds, r.train_images, r.final_bits_per_code, r.interrupted ? "true" : "false");
      if (r.evaluated) fmt::print(",\"heldout\":{}", prior_evaluation_json(r.heldout));
      fmt::print("}}\n");
    } else if (r.evaluated) {
      fmt::print("{}\n", prior_evaluation_table(r.heldout));
    }
    if (r.interrupted) throw CLI::RuntimeError(130);
  });
}

void register_sample(CLI::App& app) {
  struct Args {
    SampleOptions options;
    std::string grid, dir;
    int columns = 0;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  auto* cmd = app.add_subcommand("sample", "Generate images: sample codes from a prior, decode them with its model");
  cmd->add_option("-m,--model", o.model, "Autoencoder model file")->required();
  cmd->add_option("--prior", o.prior, "Prior file (from train-prior)")->required();
  cmd->add_option("-n,--count", o.count, "Number of images")->capture_default_str();
  auto* grid = cmd->add_option("-o,--output", args->grid, "PNG grid of all samples");
  auto* dir = cmd->add_option("-d,--dir", args->dir, "Folder for one PNG per sample (sample-00000.png, ...)");
  grid->excludes(dir);
  cmd->add_option("--columns", args->columns, "Grid columns (default: about the square root of N)");
  cmd->add_option("--seed", o.seed, "Seed: the same seed, batch size and device give the same images")->capture_default_str();
  cmd->add_option("-t,--temperature", o.temperature, "Softmax temperature (< 1: safer, > 1: more varied)")
      ->capture_default_str();
  cmd->add_option("-b,--batch", o.batch_size, "Images sampled together")->capture_default_str();
  cmd->add_option("--device", o.device, "auto|cpu|cuda")->capture_default_str();
  cmd->callback([args] {
    auto& x = *args;
    if (x.grid.empty() == x.dir.empty()) throw Error("sample: give -o GRID.png or -d DIR");
    if (!x.grid.empty()) image_format_from_path(x.grid);  // a bad extension fails before sampling
    if (!x.dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(x.dir, ec);
      if (ec) throw Error(fmt::format("{}: cannot create the folder ({})", x.dir, ec.message()));
    }
    const bool live = live_progress();
    x.options.progress = [live](int64_t done, int64_t total) {
      if (live) fmt::print(stderr, "\rsampled {}/{} images", done, total);
    };
    std::vector<Image> all;
    int64_t written = 0;
    SampleReport r = sample_images(x.options, [&](std::vector<Image>&& batch) {
      for (auto& im : batch) {
        if (!x.dir.empty())
          write_image(im, fmt::format("{}/sample-{:05}.png", x.dir, written), ImageFormat::Png);
        else
          all.push_back(std::move(im));
        ++written;
      }
    });
    if (live) fmt::print(stderr, "\n");
    if (!x.grid.empty()) {
      int cols = x.columns > 0 ? x.columns : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(all.size()))));
      write_image(image_grid(all, cols), x.grid, image_format_from_path(x.grid));
    }
    if (!globals().quiet)
      fmt::print(stderr, "{} images in {:.2f} s ({:.1f} images/s); written to {}\n", r.images, r.seconds,
                 r.images_per_second, x.grid.empty() ? x.dir : x.grid);
  });
}

void register_eval_gen(CLI::App& eval) {
  struct Args {
    GenFidOptions options;
    std::string dataset = "auto", subset;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  o.sample.count = 10000;
  auto* cmd = eval.add_subcommand("gen", "Generation FID: sample N images from a prior and compare with a reference set");
  cmd->add_option("-m,--model", o.sample.model, "Autoencoder model file")->required();
  cmd->add_option("--prior", o.sample.prior, "Prior file (from train-prior)")->required();
  cmd->add_option("-n,--count", o.sample.count, "Images to generate")->capture_default_str();
  cmd->add_option("--data", o.reference, "Reference dataset or statistics file (eval fid-stats)")->required();
  cmd->add_option("--dataset", args->dataset, "auto|mnist|cifar10|ffhq|imagenet|folder")->capture_default_str();
  cmd->add_option("--subset", args->subset, "START:END of the reference dataset");
  cmd->add_option("--inception", o.inception, "InceptionV3 weights (default: $HRVQ_INCEPTION or pytorch-fid's cache)");
  cmd->add_option("--seed", o.sample.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("-t,--temperature", o.sample.temperature, "Softmax temperature")->capture_default_str();
  cmd->add_option("-b,--batch", o.sample.batch_size, "Images sampled together")->capture_default_str();
  cmd->add_option("--fid-batch", o.fid_batch, "Images per Inception forward pass")->capture_default_str();
  cmd->add_option("--device", o.sample.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_flag("--json", args->json, "One JSON object on stdout");
  cmd->callback([args] {
    auto& x = *args;
    x.options.kind = parse_dataset_kind(x.dataset);
    if (!x.subset.empty()) x.options.subset = parse_subset(x.subset);
    const bool live = live_progress();
    if (live)
      x.options.progress = [](const std::string& stage, int64_t done, int64_t total) {
        fmt::print(stderr, "\r{}: {}/{} images   ", stage, done, total);
      };
    GenFidReport r = evaluate_generation_fid(x.options);
    if (live) fmt::print(stderr, "\n");
    if (x.json)
      fmt::print("{{\"fid\":{},\"generated\":{},\"reference\":{},\"sample_seconds\":{:.3f},\"sample_images_per_s\":{:.2f},"
                 "\"seconds\":{:.3f}}}\n",
                 r.fid, r.generated, r.reference, r.sample_seconds, r.sample_images_per_second, r.seconds);
    else
      fmt::print("generation FID {:.4f}  ({} generated at {:.1f} images/s, {} reference images, {:.1f} s)\n", r.fid,
                 r.generated, r.sample_images_per_second, r.reference, r.seconds);
  });
}

}  // namespace hrvq::cli
