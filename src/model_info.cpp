#include "hrvq/model_info.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "hrvq/error.hpp"
#include "hrvq/model_file.hpp"
#include "model_io.hpp"

namespace hrvq {

namespace {

// A code prior (hrvq train-prior) is described from its keys alone: it cannot be
// built without the autoencoder it belongs to, and `info` only reads one file.
std::string describe_prior(const std::string& path, const LoadedModelFile& lf, bool json) {
  const Metadata& meta = lf.file.metadata;
  int64_t params = 0;
  for (const auto& t : lf.file.tensors) params += static_cast<int64_t>(t.element_count());
  const int64_t layers = meta.get_int("prior.layers");
  if (layers < 1 || layers > 64) throw Error(fmt::format("{}: key 'prior.layers' out of range ({})", path, layers));
  std::vector<std::string> grids;
  for (int64_t i = 0; i < layers; ++i)
    grids.push_back(fmt::format("{}x{}", meta.get_int(fmt::format("prior.grid{}.width", i)),
                                meta.get_int(fmt::format("prior.grid{}.height", i))));
  const double bits = meta.get_double_or("prior.eval.bits_per_image", -1);
  if (json)
    return fmt::format(
        "{{\"path\":\"{}\",\"version\":\"{}.{}\",\"checksum_ok\":{},\"fingerprint\":\"{:016x}\",\"kind\":\"prior\","
        "\"architecture\":\"{}\",\"prior_version\":{},\"model_fingerprint\":\"{}\",\"layers\":{},\"codes\":{},"
        "\"hierarchical\":{},\"image_width\":{},\"image_height\":{},\"image_channels\":{},\"latent_grid\":[\"{}\"],"
        "\"channels\":{},\"depth\":{},\"kernel\":{},\"embed\":{},\"cond_channels\":{},\"cond_blocks\":{},"
        "\"parameters\":{},\"train_steps\":{},\"eval_bits_per_image\":{}}}",
        path, lf.version_major, lf.version_minor, lf.checksum_ok ? "true" : "false", lf.fingerprint,
        meta.get_string("prior.architecture"), meta.get_int("prior.version"), meta.get_string("prior.model_fingerprint"),
        layers, meta.get_int("prior.codes"), meta.get_int("prior.hierarchical") ? "true" : "false",
        meta.get_int("prior.image_width"), meta.get_int("prior.image_height"), meta.get_int("prior.image_channels"),
        fmt::join(grids, "\",\""), meta.get_int("prior.channels"), meta.get_int("prior.depth"),
        meta.get_int("prior.kernel"), meta.get_int("prior.embed"), meta.get_int("prior.cond_channels"),
        meta.get_int("prior.cond_blocks"), params, meta.get_int_or("prior.state.step", 0),
        bits >= 0 ? fmt::format("{:.3f}", bits) : "null");
  std::string out;
  out += fmt::format("model            {}\n", path);
  out += fmt::format("format version   {}.{}\n", lf.version_major, lf.version_minor);
  out += fmt::format("checksum         {}\n", lf.checksum_ok ? "ok" : "MISMATCH (file is corrupt)");
  out += fmt::format("fingerprint      {:016x}\n", lf.fingerprint);
  out += fmt::format("kind             code prior ({} version {}) for the model {}\n",
                     meta.get_string("prior.architecture"), meta.get_int("prior.version"),
                     meta.get_string("prior.model_fingerprint"));
  out += fmt::format("index maps       {} of {} codes{}, grids {} for a {}x{} image\n", layers,
                     meta.get_int("prior.codes"), meta.get_int("prior.hierarchical") ? " (hierarchical)" : "",
                     fmt::join(grids, " + "), meta.get_int("prior.image_width"), meta.get_int("prior.image_height"));
  out += fmt::format("network          channels {}, depth {}, kernel {}, code embedding {}, conditioning {} channels x {} blocks\n",
                     meta.get_int("prior.channels"), meta.get_int("prior.depth"), meta.get_int("prior.kernel"),
                     meta.get_int("prior.embed"), meta.get_int("prior.cond_channels"), meta.get_int("prior.cond_blocks"));
  out += fmt::format("parameters       {}\n", params);
  if (meta.has("prior.state.step"))
    out += fmt::format("trained          {} steps, data {}\n", meta.get_int("prior.state.step"),
                       meta.get_string_or("prior.train.data", "?"));
  if (bits >= 0)
    out += fmt::format("held-out NLL     {:.1f} bits per image over {} images\n", bits,
                       meta.get_int_or("prior.eval.images", 0));
  return out;
}

}  // namespace

std::string describe_model(const std::string& path, int width, int height, bool json) {
  LoadedModelFile lf = open_model_file(path, /*require_checksum=*/false);
  lf.file.metadata.set_name(path);
  if (lf.file.metadata.has("prior.architecture") && !lf.file.metadata.has("hrvq.architecture"))
    return describe_prior(path, lf, json);
  ModelConfig c = read_model_config(lf.file.metadata);
  HrvqModel net(c);
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  const Metadata& meta = lf.file.metadata;
  int64_t train_size = meta.get_int_or("train.image_size", 0);
  if (width <= 0) width = static_cast<int>(train_size);
  if (height <= 0) height = static_cast<int>(train_size);
  auto grid = net->latent_grid(height, width);
  bool has_counts = !read_code_counts(lf.file, c).empty();
  std::vector<std::string> grids;
  for (auto& g : grid) grids.push_back(fmt::format("{}x{}", g.second, g.first));
  double raw_bits = 0;
  for (size_t i = 0; i < grid.size(); ++i) raw_bits += grid[i].first * grid[i].second * std::log2(double(c.codes));
  double bpp = width > 0 && height > 0 ? raw_bits / (double(width) * height) : 0;
  if (json) {
    return fmt::format(
        "{{\"path\":\"{}\",\"version\":\"{}.{}\",\"checksum_ok\":{},\"fingerprint\":\"{:016x}\",\"quantizer\":\"{}\","
        "\"image_channels\":{},\"channels\":{},\"res_blocks\":{},\"res_channels\":{},\"embed_dim\":{},\"downsample\":{},"
        "\"upsample\":\"{}\",\"layers\":{},\"groups\":{},\"codes\":{},\"beta\":{},\"beta_ec\":{},\"ema\":{},\"parameters\":{},"
        "\"image_width\":{},\"image_height\":{},\"latent_grid\":[\"{}\"],\"raw_bits_per_position\":{:.4f},"
        "\"raw_bits_per_pixel\":{:.5f},\"code_counts\":{},\"train_steps\":{},\"train_preset\":\"{}\"}}",
        path, lf.version_major, lf.version_minor, lf.checksum_ok ? "true" : "false", lf.fingerprint,
        quantizer_kind_name(c.quantizer), c.image_channels, c.channels, c.res_blocks, c.res_channels, c.embed_dim,
        c.downsample, upsample_kind_name(c.upsample), c.num_layers(), c.groups, c.codes, c.beta, c.beta_ec, c.ema ? "true" : "false",
        params, width, height, fmt::join(grids, "\",\""), c.raw_bits_per_position(), bpp, has_counts ? "true" : "false",
        meta.get_int_or("train.state.step", 0), meta.get_string_or("train.preset", ""));
  }
  std::string table_sizes = fmt::format("{}", fmt::join(c.layer_table_sizes(), " + "));
  std::string out;
  out += fmt::format("model            {}\n", path);
  out += fmt::format("format version   {}.{}\n", lf.version_major, lf.version_minor);
  out += fmt::format("checksum         {}\n", lf.checksum_ok ? "ok" : "MISMATCH (file is corrupt)");
  out += fmt::format("fingerprint      {:016x}\n", lf.fingerprint);
  out += fmt::format("quantizer        {}\n", quantizer_kind_name(c.quantizer));
  if (c.groups > 1)
    out += fmt::format("groups x layers  {} x {} of {} codes: {} index maps (code vectors {})\n", c.groups, c.layers,
                       c.codes, c.num_layers(), table_sizes);
  else
    out += fmt::format("layers x codes   {} x {}  (code vectors {})\n", c.num_layers(), c.codes, table_sizes);
  out += fmt::format("embedding dim    {}\n", c.embed_dim);
  out += fmt::format("encoder/decoder  channels {}, {} residual blocks of {}, downsampling {}, {} upsampling\n",
                     c.channels, c.res_blocks, c.res_channels, c.downsample, upsample_kind_name(c.upsample));
  out += fmt::format("image channels   {}\n", c.image_channels);
  out += fmt::format("codebooks        {} (beta {}, beta_0 {})\n", c.ema ? fmt::format("EMA, decay {}", c.ema_decay) : "learned by the loss", c.beta, c.beta_ec);
  out += fmt::format("parameters       {}\n", params);
  out += fmt::format("latent grid      {} for a {}x{} image\n", fmt::join(grids, " + "), width, height);
  out += fmt::format("raw bits         {:.2f} per latent position, {:.4f} per pixel\n", c.raw_bits_per_position(), bpp);
  out += fmt::format("code counts      {}\n", has_counts ? "present (entropy coding ready)" : "absent");
  if (meta.has("train.preset"))
    out += fmt::format("trained          {} steps, preset {}, size {}, data {}\n", meta.get_int_or("train.state.step", 0),
                       meta.get_string_or("train.preset", "?"), train_size, meta.get_string_or("train.data", "?"));
  return out;
}

}  // namespace hrvq
