#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/model_info.hpp"

namespace hrvq::cli {

void register_info(CLI::App& app) {
  struct Args {
    std::string path;
    std::string size;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("info", "Describe a model file (.hrvqm) or a bitstream (.hrvq)");
  cmd->add_option("FILE", args->path, "Model or bitstream")->required();
  cmd->add_option("--size", args->size, "WxH: image size for the latent grid (model files)");
  cmd->add_flag("--json", args->json, "JSON output");
  cmd->callback([args] {
    int w = 0, h = 0;
    if (!args->size.empty() && std::sscanf(args->size.c_str(), "%dx%d", &w, &h) != 2)
      throw CLI::ValidationError("--size", "expected WxH, e.g. 256x256");
    fmt::print("{}\n", describe_model(args->path, w, h, args->json));
  });
}

}  // namespace hrvq::cli
