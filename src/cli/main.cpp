// hrvq: the command line. Parses arguments, calls the library, maps failures to exit codes.
#include <cstdio>
#include <exception>
#include <string>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/error.hpp"
#include "hrvq/runtime.hpp"

namespace hrvq::cli {
Globals& globals() {
  static Globals g;
  return g;
}
}  // namespace hrvq::cli

namespace {

// LibTorch errors carry a multi-line backtrace; the user gets the first line.
std::string first_line(const std::string& text) {
  auto pos = text.find('\n');
  return pos == std::string::npos ? text : text.substr(0, pos);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hrvq: an image codec on hierarchical residual vector quantization (HR-VQVAE)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("hrvq ") + HRVQ_VERSION_STRING);
  auto& g = hrvq::cli::globals();
  int threads = 0;
  app.add_flag("-q,--quiet", g.quiet, "No progress or warnings on stderr");
  app.add_flag("-v,--verbose", g.verbose, "More detail");
  app.add_option("--threads", threads, "Compute threads (default: one per core)")->check(CLI::Range(0, 1024));
  app.fallthrough();

  hrvq::cli::register_train(app);
  hrvq::cli::register_info(app);
  hrvq::cli::register_encode_decode(app);
  hrvq::cli::register_train_prior(app);
  hrvq::cli::register_sample(app);
  auto* eval = app.add_subcommand("eval", "Measure a model or images: reconstruction, FID, PSNR and MS-SSIM");
  eval->require_subcommand(1);
  hrvq::cli::register_eval_recon(*eval);
  hrvq::cli::register_eval_fid(*eval);
  hrvq::cli::register_eval_gen(*eval);
  hrvq::cli::register_eval_image(*eval);
  app.parse_complete_callback([&] { hrvq::init_runtime(threads); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const hrvq::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "hrvq: {}\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "hrvq: internal error: {}\n", first_line(e.what_without_backtrace()));
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "hrvq: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "hrvq: {}\n", first_line(e.what()));
    return 2;
  }
  return 0;
}
