// Each subcommand registers itself on the CLI11 app; the CLI only parses arguments and
// calls the library.
#pragma once
#include <CLI/CLI.hpp>

namespace hrvq::cli {

// Shared process state set from global flags.
struct Globals {
  bool quiet = false;
  int verbose = 0;
};
Globals& globals();

void register_train(CLI::App& app);
void register_info(CLI::App& app);
void register_encode_decode(CLI::App& app);
void register_eval_recon(CLI::App& eval);
void register_eval_fid(CLI::App& eval);       // "eval fid" and "eval fid-stats"
void register_eval_gen(CLI::App& eval);
void register_eval_image(CLI::App& eval);   // "eval image": PSNR and MS-SSIM of image files
void register_train_prior(CLI::App& app);
void register_sample(CLI::App& app);

}  // namespace hrvq::cli
