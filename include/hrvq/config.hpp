// Model and training configuration, and the per-dataset presets. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hrvq {

enum class QuantizerKind { Hr, Vq, Vq2, Rvq };
QuantizerKind parse_quantizer_kind(const std::string& text);  // "hr|vq|vq2|rvq"
const char* quantizer_kind_name(QuantizerKind kind);

enum class UpsampleKind { Transpose, Subpixel };
UpsampleKind parse_upsample_kind(const std::string& text);    // "transpose|subpixel"
const char* upsample_kind_name(UpsampleKind kind);

struct ModelConfig {
  QuantizerKind quantizer = QuantizerKind::Hr;
  int image_channels = 3;      // 1 or 3
  int channels = 128;          // encoder/decoder width
  int res_blocks = 2;
  int res_channels = 32;
  int embed_dim = 64;          // D
  int downsample = 4;          // 2, 4 or 8
  UpsampleKind upsample = UpsampleKind::Subpixel;
  int layers = 3;              // n (hr, rvq); 1 for vq; 2 (top, bottom) for vq2
  // G (hr, rvq): the D latent channels split into G groups of D/G, each quantized by its
  // own tree of n layers. Index maps are ordered layer by layer: map i*G + g is layer i
  // of group g, so a prefix of k maps refines every group before going deeper.
  int groups = 1;
  int codes = 8;               // m per codebook (hr, rvq); K for vq and each vq2 level
  double beta = 0.25;          // commitment weight of every layer term (beta_i)
  double beta_ec = 0.25;       // beta_0: commitment weight of the e_C term
  bool ema = false;            // codebooks by exponential moving averages instead of the loss
  double ema_decay = 0.99;

  // Grid factor an image side must be a multiple of (vq2 halves once more).
  int grid_factor() const { return quantizer == QuantizerKind::Vq2 ? downsample * 2 : downsample; }
  // Rows of the code table of each layer: m^i (hr), m (rvq), K (vq, vq2 levels).
  std::vector<int64_t> layer_table_sizes() const;
  int num_layers() const;      // index maps per image (n * G for hr and rvq)
  // Index map of `layer` (0-based) of quantizer `q` (a group; for vq2 0 = top, 1 = bottom).
  int map_index(int q, int layer) const { return quantizer == QuantizerKind::Vq2 ? q : layer * groups + q; }
  // Layers of group g among the first k index maps (k = 0: all n).
  int group_prefix(int k, int g) const {
    if (k <= 0) return layers;
    return k > g ? (k - g + groups - 1) / groups : 0;
  }
  // Raw bits per latent position: sum over layers of log2(codes).
  double raw_bits_per_position() const;
  void validate() const;       // throws hrvq::Error on an impossible configuration
};

enum class Fit { Resize, CenterCrop, RandomCrop };

struct TrainConfig {
  std::string preset;
  int image_size = 32;          // training crop / resize size
  std::string fit = "center";   // resize|center|random
  bool flip = false;
  int batch_size = 64;
  int64_t steps = 1000;
  double lr = 3e-4;
  uint64_t seed = 1;
  int64_t checkpoint_every = 500;
  int64_t log_every = 50;
  double layer_dropout = 0.0;   // probability of decoding from a random prefix of layers
  int64_t reseed_after = 0;     // reseed a code unused for this many steps (0 = never)
  int64_t count_images = 20000; // images used to gather code counts for the entropy model
  std::string lr_schedule = "constant";  // constant|cosine (to lr_final_factor * lr at the last step)
  double lr_final_factor = 0.01;
  int64_t warmup = 0;           // steps of linear learning-rate warm-up
  bool icnr = false;            // ICNR initialisation of the sub-pixel upsamplers
};

// Learning rate at `step` (0-based) of a run of `steps` steps: warm-up, then the schedule.
double learning_rate_at(const TrainConfig& config, int64_t step);

struct Preset {
  std::string name;
  ModelConfig model;
  TrainConfig train;
};

// Presets: mnist, cifar10, ffhq, imagenet, photo. Throws for unknown names.
Preset preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace hrvq
