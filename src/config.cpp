#include "hrvq/config.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hrvq/error.hpp"

namespace hrvq {

QuantizerKind parse_quantizer_kind(const std::string& text) {
  if (text == "hr") return QuantizerKind::Hr;
  if (text == "vq") return QuantizerKind::Vq;
  if (text == "vq2") return QuantizerKind::Vq2;
  if (text == "rvq") return QuantizerKind::Rvq;
  throw Error(fmt::format("unknown quantizer '{}' (expected hr, vq, vq2 or rvq)", text));
}

const char* quantizer_kind_name(QuantizerKind kind) {
  switch (kind) {
    case QuantizerKind::Hr: return "hr";
    case QuantizerKind::Vq: return "vq";
    case QuantizerKind::Vq2: return "vq2";
    case QuantizerKind::Rvq: return "rvq";
  }
  return "?";
}

UpsampleKind parse_upsample_kind(const std::string& text) {
  if (text == "transpose") return UpsampleKind::Transpose;
  if (text == "subpixel") return UpsampleKind::Subpixel;
  throw Error(fmt::format("unknown upsampler '{}' (expected transpose or subpixel)", text));
}

const char* upsample_kind_name(UpsampleKind kind) {
  return kind == UpsampleKind::Transpose ? "transpose" : "subpixel";
}

int ModelConfig::num_layers() const {
  switch (quantizer) {
    case QuantizerKind::Vq: return 1;
    case QuantizerKind::Vq2: return 2;
    default: return layers * groups;
  }
}

std::vector<int64_t> ModelConfig::layer_table_sizes() const {
  std::vector<int64_t> sizes;
  int64_t rows = 1;
  for (int i = 0; i < num_layers(); ++i) {
    if (quantizer == QuantizerKind::Hr) {
      if (i % groups == 0) rows *= codes;  // every group's layer i has m^(i+1) rows
      sizes.push_back(rows);
    } else {
      sizes.push_back(codes);
    }
  }
  return sizes;
}

double ModelConfig::raw_bits_per_position() const {
  double per_layer = std::log2(static_cast<double>(codes));
  if (quantizer == QuantizerKind::Vq2) return per_layer * 1.25;  // top map has a quarter of the positions
  return per_layer * num_layers();
}

void ModelConfig::validate() const {
  if (image_channels != 1 && image_channels != 3) throw Error(fmt::format("image channels must be 1 or 3, not {}", image_channels));
  if (downsample != 2 && downsample != 4 && downsample != 8) throw Error(fmt::format("downsampling must be 2, 4 or 8, not {}", downsample));
  if (channels < 2 || channels > 4096 || channels % 2) throw Error(fmt::format("channels must be an even number in 2..4096, not {}", channels));
  if (res_blocks < 0 || res_blocks > 64) throw Error(fmt::format("residual blocks must be in 0..64, not {}", res_blocks));
  if (res_channels < 1 || res_channels > 4096) throw Error(fmt::format("residual channels must be in 1..4096, not {}", res_channels));
  if (embed_dim < 1 || embed_dim > 4096) throw Error(fmt::format("embedding dimension must be in 1..4096, not {}", embed_dim));
  if (codes < 2 || codes > 65536) throw Error(fmt::format("codes per codebook must be in 2..65536, not {}", codes));
  if (layers < 1 || layers > 16) throw Error(fmt::format("layers must be in 1..16, not {}", layers));
  if (groups < 1 || groups > 16) throw Error(fmt::format("groups must be in 1..16, not {}", groups));
  if (groups > 1 && quantizer != QuantizerKind::Hr && quantizer != QuantizerKind::Rvq)
    throw Error(fmt::format("channel groups need the hr or rvq quantizer, not {}", quantizer_kind_name(quantizer)));
  if (embed_dim % groups) throw Error(fmt::format("embedding dimension {} is not a multiple of {} groups", embed_dim, groups));
  if (layers * groups > 64) throw Error(fmt::format("{} layers x {} groups exceed 64 index maps", layers, groups));
  if (quantizer == QuantizerKind::Hr) {
    // m^n rows of D floats must fit in memory; 2^24 rows is already 4 GiB at D=64.
    double rows = std::pow(static_cast<double>(codes), layers);
    if (rows > double(1 << 24)) throw Error(fmt::format("hr quantizer with m={} and n={} needs {:.3g} code vectors (limit 2^24)", codes, layers, rows));
  }
  if (!(beta >= 0) || !(beta_ec >= 0)) throw Error("betas must be non-negative");
  if (!(ema_decay > 0 && ema_decay < 1)) throw Error("EMA decay must be in (0, 1)");
}

double learning_rate_at(const TrainConfig& t, int64_t step) {
  double lr = t.lr;
  if (t.lr_schedule == "cosine" && t.steps > 1) {
    const double progress = std::min(1.0, std::max(0.0, double(step) / double(t.steps - 1)));
    const double floor = t.lr * t.lr_final_factor;
    lr = floor + 0.5 * (t.lr - floor) * (1.0 + std::cos(M_PI * progress));
  } else if (t.lr_schedule != "constant") {
    throw Error(fmt::format("unknown learning-rate schedule '{}' (expected constant or cosine)", t.lr_schedule));
  }
  if (t.warmup > 0 && step < t.warmup) lr *= double(step + 1) / double(t.warmup);
  return lr;
}

namespace {

Preset make(const std::string& name) {
  Preset p;
  p.name = name;
  p.train.preset = name;
  ModelConfig& m = p.model;
  TrainConfig& t = p.train;
  if (name == "mnist") {
    m.image_channels = 1; m.channels = 64; m.res_blocks = 2; m.res_channels = 32; m.embed_dim = 32;
    m.downsample = 4; m.layers = 3; m.codes = 8;
    t.image_size = 28; t.fit = "center"; t.batch_size = 64; t.steps = 1000; t.lr = 1e-3;
    t.checkpoint_every = 1000; t.reseed_after = 200;
  } else if (name == "cifar10") {
    m.image_channels = 3; m.channels = 128; m.res_blocks = 2; m.res_channels = 32; m.embed_dim = 64;
    m.downsample = 4; m.layers = 3; m.codes = 8;
    t.image_size = 32; t.fit = "center"; t.flip = true; t.batch_size = 64; t.steps = 20000; t.lr = 3e-4;
    t.checkpoint_every = 2000; t.reseed_after = 500;
  } else if (name == "ffhq" || name == "imagenet") {
    m.image_channels = 3; m.channels = 128; m.res_blocks = 2; m.res_channels = 32; m.embed_dim = 64;
    m.downsample = 4; m.layers = 3; m.codes = 8;
    t.image_size = 256; t.fit = name == "ffhq" ? "center" : "random"; t.flip = true; t.batch_size = 16;
    t.steps = 50000; t.lr = 3e-4; t.checkpoint_every = 2000; t.reseed_after = 500;
  } else if (name == "photo") {
    // The bundled photo codec, sized for a 2-core CPU: 96 channels and 3 residual blocks
    // keep decoding above 5 MP/s. Four channel groups of 16 dimensions, each an HR tree of
    // 4 layers of 8 codes: 16 index maps of 3 bits per 4x4 block, so a prefix of 1..16
    // maps spans 0.19..3 bpp before entropy coding. Prefix dropout trains every prefix;
    // ICNR starts the sub-pixel upsamplers free of checkerboard; cosine decay anneals.
    m.image_channels = 3; m.channels = 96; m.res_blocks = 3; m.res_channels = 48; m.embed_dim = 64;
    m.downsample = 4; m.groups = 4; m.layers = 4; m.codes = 8;
    t.image_size = 64; t.fit = "random"; t.flip = true; t.batch_size = 16; t.steps = 24000; t.lr = 1e-3;
    t.lr_schedule = "cosine"; t.icnr = true;
    t.checkpoint_every = 1000; t.reseed_after = 200; t.layer_dropout = 0.5; t.count_images = 20000;
  } else {
    throw Error(fmt::format("unknown preset '{}' (expected mnist, cifar10, ffhq, imagenet or photo)", name));
  }
  return p;
}

}  // namespace

Preset preset(const std::string& name) { return make(name); }

std::vector<std::string> preset_names() { return {"mnist", "cifar10", "ffhq", "imagenet", "photo"}; }

}  // namespace hrvq
