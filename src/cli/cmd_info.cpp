#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/image.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/model_info.hpp"

namespace hrvq::cli {

namespace {

bool is_bitstream_file(const std::string& path) {
  if (path == "-") return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;  // describe_model reports the error
  char head[8] = {};
  const size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return n >= 4 && std::memcmp(head, "HRVQ", 4) == 0 && !(n == 8 && std::memcmp(head, kModelFileMagic, 8) == 0);
}

}  // namespace

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
    // "HRVQ" also begins the model magic "HRVQMDL\0", so a bitstream is told apart by
    // its first four bytes not being followed by the rest of that magic.
    if (is_bitstream_file(args->path)) {
      auto bytes = read_file(args->path, uint64_t{1} << 34);
      auto parsed = parse_bitstream(bytes, args->path);
      if (args->json) fmt::print("{}\n", describe_bitstream_json(parsed, bytes.size()));
      else fmt::print("{}", describe_bitstream(parsed, bytes.size()));
      return;
    }
    fmt::print("{}\n", describe_model(args->path, w, h, args->json));
  });
}

}  // namespace hrvq::cli
