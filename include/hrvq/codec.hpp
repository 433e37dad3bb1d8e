// The codec: images to .hrvq bitstreams and back with one trained model.
//
// A Codec loads a model file once and can then be shared by any number of threads:
// every method is const. Encoding runs the network's encoder and quantizer, codes each
// layer's index map (entropy_model.hpp) and wraps the maps in the container of
// format/bitstream.md; decoding undoes this. Large images are processed in overlapping
// tiles (see CodecOptions::tile) so that memory does not grow with the image, and the
// result is the same as processing the whole image at once.
//
// This header does not include LibTorch: programs that only call the codec need not
// compile against it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hrvq/depth_map.hpp"
#include "hrvq/entropy_model.hpp"
#include "hrvq/image.hpp"
#include "hrvq/image_quality.hpp"
#include "hrvq/precision.hpp"
#include "hrvq/rate_control.hpp"

namespace hrvq {

struct ParsedBitstream;  // bitstream.hpp

struct CodecOptions {
  std::string device = "auto";  // auto|cpu|cuda
  // Interior side of a tile in pixels (rounded up to the model's grid factor); 0 runs
  // every image in one piece. Each tile is run with a halo of context around it wide
  // enough to cover the network's receptive field, so tiling does not change the codes
  // and the decoded pixels at most by float rounding.
  int tile = 512;
  // Images per forward pass in encode_batch / decode_batch.
  int batch = 8;
  // Precision of the encoder and decoder networks. Bf16 is 1.6-2x as fast on CPUs with
  // AVX-512 BF16 and costs under 0.05 dB (bench/precision-speed.sh); its codes can
  // differ from fp32's at a few positions, so its files are valid but not byte-identical.
  Precision precision = Precision::Fp32;
  // fp32 on the CPU: run the decoder as a frozen oneDNN graph compiled once when the
  // model is loaded (weights prepacked, activations kept in oneDNN's layout): decoding
  // 3-7% faster than with the eager modules on the development machine
  // (docs/codec-speed.md).
  // false runs the eager modules, the reference path: the same kernels, so the same
  // pixels up to a rounding flip at x.5. Encoding is the same either way.
  bool frozen_networks = true;
  // Threads that entropy-code (and decode) one image's channel groups concurrently:
  // each group's maps form an independent chain. 0: as many as the runtime's compute
  // threads (runtime.hpp), at most the group count. Set 1 when images already run in
  // parallel (encode/decode -j).
  int entropy_threads = 0;
  // Receives one-line warnings ("NAME: ..."); null drops them.
  std::function<void(const std::string&)> warn;
};

// depth_ssim_weight of `hrvq encode --adaptive-tune ssim`: on 12 BSDS500 validation
// photos 0.5 gained the most MS-SSIM at equal size; 0.75 and 1 gained less and lost PSNR
// against one depth per image (docs/adaptive-tuning.md).
inline constexpr double kSsimTuneWeight = 0.5;

struct EncodeOptions {
  int layers = 0;            // index maps to write, 1..n; 0 = all the model has
  // Per image, what decides the maps written when `layers` is 0 (rate_control.hpp):
  // all of them, -q, the largest file within a bits-per-pixel budget, or the smallest
  // that reaches a PSNR. A --bpp target no prefix meets is an error naming the image; a
  // --psnr target none reaches writes every map with a warning.
  RateTarget rate;
  // Width of the encoder's beam search over each tree (1: greedy, as the network was
  // trained). Wider beams find code paths nearer the latent; files decode as any other.
  int beam = 1;
  // Rate-distortion optimised code choice: each code is charged lambda times its bits
  // under the model's per-parent tables, so the search trades latent error for rate
  // (0: off). Needs a model with code counts; the decoder is unchanged.
  double rdo_lambda = 0;
  // Spatially adaptive rate (hr, rvq; a version-3 file): > 0 gives every tile of this
  // many latent positions (on a side) its own number of maps, chosen by a Lagrangian
  // so that the file meets the rate target (-q: the size of its uniform file; --bpp;
  // --psnr; --layers: the size of that prefix) with the least pixel error. The encoder
  // decodes the image at a few uniform depths to decide (depth_decodes), so it is slower;
  // the decoder's cost is unchanged. 0: one depth for the whole image.
  int depth_tile = 0;
  // The depths tried around k0 (the uniform depth the target implies): k0 - w .. k0 + w.
  // 4 was measured against 2 and 6 (docs/adaptive-tuning.md).
  int depth_window = 4;
  // How many of those depths are decoded whole to measure each tile's pixel error; the
  // others are estimated from them along a latent-space proxy weighed per map on a small
  // crop (tile_distortion.hpp). 0 decodes none for -q/--bpp/--layers; --psnr decodes at
  // least 2; 2 * depth_window + 1 or more decodes every candidate (exact). Measured on 12
  // BSDS500 validation photos (docs/adaptive-tuning.md), gain over one depth per image
  // at equal size and encode speed against the uniform encode: 0 decodes 77% of the
  // exact gain at 0.70x, 3 decodes 88% at 0.24x, exact 100% at 0.12x. 0 is the default:
  // the encoder stays within reach of the uniform one's speed.
  int depth_decodes = 0;
  // How much the depth choice under a rate target (-q, --bpp, --layers) weighs each
  // tile's error by SSIM's sensitivity to it (tile_masking.hpp): 0 minimises the squared
  // error (PSNR), 1 weighs it fully by 1 / (2 s^2 + C2), between blends. --psnr targets
  // always use the squared error.
  double depth_ssim_weight = 0;
  Coder coder = Coder::RansCtx;
  std::string name;          // the input's name, for messages
};

// The local code indices of one image: one raster-order map per layer, coarsest first.
struct IndexMaps {
  uint32_t width = 0, height = 0;                    // the image's size in pixels
  std::vector<std::vector<uint16_t>> maps;           // maps[i].size() == rows[i] * cols[i]
  std::vector<uint32_t> rows, cols;                  // grid of each layer
  // hr, rvq: the maps each tile holds (format/bitstream.md, "Depth map"); a position
  // of a tile of depth D counts maps 0..D-1 only. Empty: every map everywhere.
  DepthMap depth;
};

class Codec {
 public:
  // Loads the model; throws hrvq::Error naming the file if it cannot be used.
  explicit Codec(const std::string& model_path, CodecOptions options = {});
  ~Codec();
  Codec(Codec&&) noexcept;
  Codec& operator=(Codec&&) noexcept;
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  const std::string& model_path() const;
  uint64_t fingerprint() const;   // fingerprint64 of the model file: what bitstreams name
  int channels() const;           // image channels the model codes (1 or 3)
  int layers() const;             // index maps per image (n)
  int codes() const;              // m (K for vq, vq2)
  int grid_factor() const;        // image sides are padded to a multiple of this
  bool has_counts() const;        // the model carries code counts, so rANS is available

  // One image to a complete bitstream. An image whose channel count differs from the
  // model's is converted (gray <-> RGB) with a warning.
  std::vector<uint8_t> encode(const Image& image, const EncodeOptions& options = {}) const;
  // Several images; those of equal size share forward passes (CodecOptions::batch at a
  // time). names[i] (optional: may be empty) names image i in warnings and errors.
  std::vector<std::vector<uint8_t>> encode_batch(const std::vector<Image>& images, const EncodeOptions& options = {},
                                                 const std::vector<std::string>& names = {}) const;

  // A bitstream to an image, from its first `layers` layers (0 = every layer present).
  // The header's fingerprint must be this model's. A truncated file decodes from the
  // layers it holds, with a warning.
  Image decode(const uint8_t* data, size_t size, const std::string& name, int layers = 0) const;
  Image decode(const std::vector<uint8_t>& bytes, const std::string& name, int layers = 0) const {
    return decode(bytes.data(), bytes.size(), name, layers);
  }
  // Several bitstreams; those of equal image size and layer count share forward passes.
  std::vector<Image> decode_batch(const std::vector<std::vector<uint8_t>>& streams,
                                  const std::vector<std::string>& names, int layers = 0) const;

  // The two halves of the pipeline without the entropy coder and the container.
  IndexMaps analyze(const Image& image, const std::string& name = "", int beam = 1, double rdo_lambda = 0) const;
  Image synthesize(const IndexMaps& maps, int layers = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The models a decoder may use, found by the fingerprint each bitstream names: the
// files given, then (if search_bundled) bundled_model_paths(). Each file is read for
// its fingerprint at most once and loaded at most once. Thread-safe.
class ModelSet {
 public:
  ModelSet(std::vector<std::string> model_paths, bool search_bundled, CodecOptions options = {});
  ~ModelSet();
  // The codec for this bitstream; throws "NAME: made with model X but the model is Y
  // (PATH)" when one model was given and it is another, or "NAME: made with model X,
  // which is none of ..." otherwise.
  const Codec& codec_for(const uint8_t* data, size_t size, const std::string& name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The bitstream as a JSON object for `hrvq info --json`: the header fields, each
// complete layer's segment size, and bits per pixel.
std::string describe_bitstream_json(const ParsedBitstream& parsed, size_t file_size);

}  // namespace hrvq
