#include <unistd.h>

#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/eval.hpp"

namespace hrvq::cli {

void register_eval_recon(CLI::App& eval) {
  struct Args {
    ReconOptions options;
    std::string dataset = "auto", subset;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = eval.add_subcommand("recon", "Reconstruction MSE, PSNR, per-layer MSE and code usage on a dataset");
  cmd->add_option("-m,--model", args->options.model, "Model file")->required();
  cmd->add_option("--data", args->options.data, "Dataset path")->required();
  cmd->add_option("--dataset", args->dataset, "auto|mnist|cifar10|ffhq|imagenet|folder")->capture_default_str();
  cmd->add_option("--subset", args->subset, "START:END");
  cmd->add_option("--size", args->options.image_size, "Image size (default: the model's training size)");
  cmd->add_option("-b,--batch", args->options.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--device", args->options.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_flag("--fid", args->options.fid, "Also reconstruction FID (needs the Inception weights)");
  cmd->add_option("--inception", args->options.inception,
                  "pt_inception-2015-12-05-6726825d.pth (default: $HRVQ_INCEPTION, then pytorch-fid's cache)");
  cmd->add_flag("--bits", args->options.bits, "Also the entropy-coded bits per image of every prefix of maps");
  cmd->add_option("--coder", args->options.coder, "Coder for --bits: rans-ctx|rans|zstd|raw")->capture_default_str();
  cmd->add_flag("--json", args->json, "One JSON object on stdout");
  cmd->callback([args] {
    auto& a = *args;
    a.options.kind = parse_dataset_kind(a.dataset);
    if (!a.subset.empty()) a.options.subset = parse_subset(a.subset);
    bool show = !globals().quiet && isatty(2);
    if (show)
      a.options.progress = [](size_t done, size_t total) { fmt::print(stderr, "\r{}/{} images", done, total); };
    ReconReport r = evaluate_reconstruction(a.options);
    if (show) fmt::print(stderr, "\n");
    fmt::print("{}\n", a.json ? recon_report_json(r) : recon_report_table(r));
  });
}

}  // namespace hrvq::cli
