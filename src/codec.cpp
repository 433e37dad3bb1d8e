#include "hrvq/bitstream.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/image.hpp"
#include "hrvq/map_contexts.hpp"
#include "hrvq/tile_distortion.hpp"
#include "hrvq/tile_masking.hpp"
#include "hrvq/tile_rate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "autocast.hpp"
#include "device.hpp"
#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/model_search.hpp"
#include "hrvq/runtime.hpp"
#include "model_io.hpp"
#include "tiling.hpp"

// Memory: a tile of T x T pixels is run with a halo h on each side (encoder_halo_pixels,
// decoder_halo_latents), so the network's activations are bounded by those of a
// (T + 2h) x (T + 2h) input times the batch, whatever the image size. Beyond that the
// codec holds the 8-bit image, its index maps (2 bytes per latent position and layer)
// and the bitstream; no float copy of the whole image is ever made.

namespace hrvq {

namespace {

StreamQuantizer stream_quantizer(QuantizerKind k) {
  switch (k) {
    case QuantizerKind::Hr: return StreamQuantizer::Hr;
    case QuantizerKind::Vq: return StreamQuantizer::Vq;
    case QuantizerKind::Rvq: return StreamQuantizer::Rvq;
    case QuantizerKind::Vq2: return StreamQuantizer::Vq2;
  }
  return StreamQuantizer::Hr;
}

const char* channels_name(int c) { return c == 1 ? "gray" : "RGB"; }

std::string with_name(const std::string& name, const std::string& text) {
  return name.empty() ? text : name + ": " + text;
}

}  // namespace

struct Codec::Impl {
  CodecOptions options;
  std::string path;
  torch::Device device{torch::kCPU};
  LoadedModel model;
  std::vector<LayerEntropyModel> entropy;  // one per layer
  bool has_counts = false;
  int64_t f = 1, d = 1;                      // grid factor, encoder stride
  int64_t enc_halo_px = 0, dec_halo_lat = 0;
  unsigned entropy_threads = 1;
  mutable std::mutex gpu_mutex;

  HrvqModel net() const { return model.net; }  // a holder copy: forward is non-const

  // Work on a GPU one batch at a time: concurrent batches would only multiply the
  // memory they need without running faster.
  std::unique_lock<std::mutex> device_lock() const {
    return device.is_cuda() ? std::unique_lock<std::mutex>(gpu_mutex) : std::unique_lock<std::mutex>();
  }

  Image conform(const Image& image, const std::string& name) const {
    if (image.width < 1 || image.height < 1 || image.pixels.size() != size_t(image.width) * image.height * image.channels)
      throw Error(with_name(name, "invalid image"));
    if (uint64_t(image.width) > kMaxImageSide || uint64_t(image.height) > kMaxImageSide)
      throw Error(with_name(name, fmt::format("{}x{} is larger than the bitstream allows ({} per side)", image.width,
                                              image.height, kMaxImageSide)));
    if (image.channels == model.config.image_channels) return image;
    if (options.warn)
      options.warn(with_name(name, fmt::format("converted {} to {} for the model", channels_name(image.channels),
                                               channels_name(model.config.image_channels))));
    return convert_channels(image, model.config.image_channels);
  }

  std::vector<std::pair<int64_t, int64_t>> grids(int64_t height, int64_t width) const {
    return model.net->latent_grid(height, width);
  }

  // Encoder on a group of images of one size: tiles over the image padded to the grid
  // factor, every image of the group in one forward pass per tile.
  // Bits of every row of every layer's table under the model's counts, per group.
  std::vector<CodeCosts> code_costs(double lambda) const {
    std::vector<CodeCosts> costs;
    if (!(lambda > 0) || !has_counts || model.config.quantizer == QuantizerKind::Vq2) return costs;
    const ModelConfig& c = model.config;
    const int64_t m = c.codes;
    costs.resize(static_cast<size_t>(c.groups));
    for (int j = 0; j < c.num_layers(); ++j) {
      auto counts = torch::tensor(std::vector<int64_t>(model.counts[j].begin(), model.counts[j].end()), torch::kFloat64)
                        .add_(1.0).view({-1, m});  // one row block per context, +1 as the coder smooths
      auto bits = -(counts / counts.sum(1, true)).log2().view({-1}).to(torch::kFloat32);
      costs[j % c.groups].bits.push_back(bits);
      costs[j % c.groups].lambda = lambda;
    }
    return costs;
  }

  // costs: code_costs(lambda), computed once per call of the public API, not per group.
  std::vector<IndexMaps> analyze_group(const std::vector<const Image*>& images, int beam = 1,
                                       const std::vector<CodeCosts>& costs = {}) const {
    const int64_t B = static_cast<int64_t>(images.size());
    const int64_t W = images[0]->width, H = images[0]->height, C = images[0]->channels;
    auto grid = grids(H, W);
    const int64_t units_x = (W + f - 1) / f, units_y = (H + f - 1) / f;
    std::vector<IndexMaps> out(images.size());
    for (auto& im : out) {
      im.width = static_cast<uint32_t>(W);
      im.height = static_cast<uint32_t>(H);
      for (auto& [rows, cols] : grid) {
        im.rows.push_back(static_cast<uint32_t>(rows));
        im.cols.push_back(static_cast<uint32_t>(cols));
        im.maps.emplace_back(static_cast<size_t>(rows * cols));
      }
    }
    const int64_t tile_units = options.tile > 0 ? (options.tile + f - 1) / f : 0;
    const int64_t halo_units = enc_halo_px / f;
    auto spans_x = plan_tiles(units_x, tile_units, halo_units);
    auto spans_y = plan_tiles(units_y, tile_units, halo_units);
    HrvqModel m = net();
    for (const auto& sy : spans_y) {
      for (const auto& sx : spans_x) {
        const int64_t x0 = sx.in_begin * f, y0 = sy.in_begin * f;
        const int64_t tw = (sx.in_end - sx.in_begin) * f, th = (sy.in_end - sy.in_begin) * f;
        auto input = torch::empty({B, C, th, tw}, torch::kFloat32);
        float* p = input.data_ptr<float>();
        // Pixels past the right and bottom edges repeat the edge, as the model pads.
        std::vector<int64_t> col(static_cast<size_t>(tw));
        for (int64_t x = 0; x < tw; ++x) col[x] = std::min(x0 + x, W - 1);
        for (int64_t b = 0; b < B; ++b) {
          const uint8_t* px = images[b]->pixels.data();
          for (int64_t c = 0; c < C; ++c)
            for (int64_t y = 0; y < th; ++y) {
              const uint8_t* row = px + std::min(y0 + y, H - 1) * W * C + c;
              for (int64_t x = 0; x < tw; ++x) *p++ = row[col[x] * C] / 255.0f;
            }
        }
        CodeMaps maps;
        {
          auto lock = device_lock();
          maps = m->encode(input.to(device), beam, costs.empty() ? nullptr : &costs);
          for (auto& t : maps) t = t.to(torch::kCPU).contiguous();
        }
        for (size_t l = 0; l < maps.size(); ++l) {
          const int64_t per_x = grid[l].second / units_x, per_y = grid[l].first / units_y;
          const int64_t mh = maps[l].size(1), mw = maps[l].size(2);
          const int64_t* codes = maps[l].data_ptr<int64_t>();
          const int64_t ox0 = (sx.out_begin - sx.in_begin) * per_x, ox1 = (sx.out_end - sx.in_begin) * per_x;
          const int64_t oy0 = (sy.out_begin - sy.in_begin) * per_y, oy1 = (sy.out_end - sy.in_begin) * per_y;
          const int64_t gx = sx.out_begin * per_x, gy = sy.out_begin * per_y, cols = grid[l].second;
          for (int64_t b = 0; b < B; ++b) {
            auto& dst = out[b].maps[l];
            for (int64_t y = oy0; y < oy1; ++y)
              for (int64_t x = ox0; x < ox1; ++x)
                dst[(gy + y - oy0) * cols + gx + x - ox0] = static_cast<uint16_t>(codes[(b * mh + y) * mw + x]);
          }
        }
      }
    }
    return out;
  }

  // Decoder on a group of index maps of one image size, from their first k layers:
  // tiles over the finest latent grid.
  std::vector<Image> synthesize_group(const std::vector<const IndexMaps*>& group, int k) const {
    const int64_t B = static_cast<int64_t>(group.size());
    const int64_t W = group[0]->width, H = group[0]->height, C = model.config.image_channels;
    auto grid = grids(H, W);
    const bool vq2 = model.config.quantizer == QuantizerKind::Vq2;
    const int64_t align = vq2 ? 2 : 1;  // finest latents per tiling unit
    const int64_t units_x = grid.back().second / align, units_y = grid.back().first / align;
    const int64_t tile_units = options.tile > 0 ? std::max<int64_t>(1, (options.tile + f - 1) / f) : 0;
    const int64_t halo_units = dec_halo_lat / align;
    auto spans_x = plan_tiles(units_x, tile_units, halo_units);
    auto spans_y = plan_tiles(units_y, tile_units, halo_units);
    std::vector<Image> out(group.size());
    for (auto& im : out) {
      im.width = static_cast<int>(W);
      im.height = static_cast<int>(H);
      im.channels = static_cast<int>(C);
      im.pixels.assign(static_cast<size_t>(W * H * C), 0);
    }
    const int64_t px_per_unit = align * d;
    // Depths per finest position, when any image of the group has a depth map.
    std::vector<std::vector<uint8_t>> depths;
    if (std::any_of(group.begin(), group.end(), [](const IndexMaps* g) { return !g->depth.empty(); }))
      for (const IndexMaps* g : group)
        depths.push_back(position_depths(g->depth, g->cols.back(), g->rows.back(), static_cast<unsigned>(k)));
    HrvqModel m = net();
    for (const auto& sy : spans_y) {
      for (const auto& sx : spans_x) {
        CodeMaps maps;
        for (int l = 0; l < k; ++l) {
          const int64_t per_x = grid[l].second / units_x, per_y = grid[l].first / units_y;
          const int64_t mw = (sx.in_end - sx.in_begin) * per_x, mh = (sy.in_end - sy.in_begin) * per_y;
          const int64_t gx = sx.in_begin * per_x, gy = sy.in_begin * per_y, cols = grid[l].second;
          auto t = torch::empty({B, mh, mw}, torch::kInt64);
          int64_t* p = t.data_ptr<int64_t>();
          for (int64_t b = 0; b < B; ++b) {
            const auto& src = group[b]->maps[l];
            for (int64_t y = 0; y < mh; ++y)
              for (int64_t x = 0; x < mw; ++x) *p++ = src[(gy + y) * cols + gx + x];
          }
          maps.push_back(t);
        }
        torch::Tensor depth;
        if (!depths.empty()) {
          const int64_t mw = (sx.in_end - sx.in_begin) * align, mh = (sy.in_end - sy.in_begin) * align;
          const int64_t gx = sx.in_begin * align, gy = sy.in_begin * align, cols = grid.back().second;
          depth = torch::empty({B, mh, mw}, torch::kUInt8);
          uint8_t* p = depth.data_ptr<uint8_t>();
          for (int64_t b = 0; b < B; ++b)
            for (int64_t y = 0; y < mh; ++y)
              for (int64_t x = 0; x < mw; ++x) *p++ = depths[b][(gy + y) * cols + gx + x];
        }
        const int64_t tw = (sx.in_end - sx.in_begin) * px_per_unit, th = (sy.in_end - sy.in_begin) * px_per_unit;
        torch::Tensor pixels;
        {
          auto lock = device_lock();
          for (auto& t : maps) t = t.to(device);
          if (depth.defined()) depth = depth.to(device);
          // Rounded as tensor_to_image does, so tiled and whole-image output agree.
          pixels = m->decode(maps, k, th, tw, depth).clamp(0, 1).mul(255.0).round().to(torch::kUInt8).to(torch::kCPU);
        }
        pixels = pixels.permute({0, 2, 3, 1}).contiguous();  // (B, th, tw, C)
        const uint8_t* src = pixels.data_ptr<uint8_t>();
        const int64_t ox0 = sx.out_begin * px_per_unit, ox1 = std::min(W, sx.out_end * px_per_unit);
        const int64_t oy0 = sy.out_begin * px_per_unit, oy1 = std::min(H, sy.out_end * px_per_unit);
        const int64_t lx = ox0 - sx.in_begin * px_per_unit, ly = oy0 - sy.in_begin * px_per_unit;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t y = oy0; y < oy1; ++y)
            std::memcpy(&out[b].pixels[static_cast<size_t>((y * W + ox0) * C)],
                        src + ((b * th + ly + y - oy0) * tw + lx) * C, static_cast<size_t>((ox1 - ox0) * C));
      }
    }
    return out;
  }

  void check_coder(Coder coder, const std::string& name) const {
    if ((coder == Coder::Rans || coder == Coder::RansCtx) && !has_counts)
      throw Error(with_name(name, fmt::format("the model {} has no code counts, so it cannot use the {} coder "
                                              "(use --coder zstd or raw)", path, coder_name(coder))));
  }

  BitstreamHeader header_for(const IndexMaps& maps, int k, Coder coder, uint32_t depth_tile = 0) const {
    BitstreamHeader h;
    h.model_fingerprint = model.file.fingerprint;
    h.width = maps.width;
    h.height = maps.height;
    h.channels = static_cast<uint8_t>(model.config.image_channels);
    h.downsample = static_cast<uint8_t>(d);
    h.grid_w = static_cast<uint16_t>(maps.cols.back());
    h.grid_h = static_cast<uint16_t>(maps.rows.back());
    h.quantizer = stream_quantizer(model.config.quantizer);
    h.coder = coder;
    h.codes = static_cast<uint16_t>(model.config.codes);
    h.layers = static_cast<uint8_t>(model.config.num_layers());
    h.groups = static_cast<uint8_t>(model.config.groups);
    h.layers_present = static_cast<uint8_t>(k);
    h.depth_tile = static_cast<uint8_t>(depth_tile);
    return h;
  }

  int layers_to_write(int requested, const std::string& name) const {
    const int n = model.config.num_layers();
    if (requested < 0 || requested > n)
      throw Error(with_name(name, fmt::format("--layers {} is outside 1..{} (the model's layers)", requested, n)));
    return requested == 0 ? n : requested;
  }

  // Every map's segment: map j's coding depends only on maps before it, so the file of
  // the first k maps is the header followed by the first k of these.
  std::vector<std::vector<uint8_t>> code_segments(const IndexMaps& maps, int k, Coder coder,
                                                  const std::vector<uint8_t>* depth = nullptr) const {
    std::vector<std::vector<uint16_t>> prefix(maps.maps.begin(), maps.maps.begin() + k);
    return encode_index_maps(prefix, maps.cols, entropy, model.config.quantizer == QuantizerKind::Hr,
                             static_cast<unsigned>(model.config.groups), static_cast<uint32_t>(model.config.codes), coder,
                             entropy_threads, depth);
  }

  // The file of a depth map: its deepest tile sets the maps written. A map of one depth
  // is written as the uniform version-2 file it amounts to.
  std::vector<uint8_t> pack_depth(const IndexMaps& maps, const DepthMap& depth, Coder coder) const {
    const auto [shallowest, deepest] = std::minmax_element(depth.depth.begin(), depth.depth.end());
    const int k = *deepest;
    if (*shallowest == *deepest) return pack(maps, k, coder);
    const auto per_position = position_depths(depth, maps.cols.back(), maps.rows.back(), static_cast<unsigned>(k));
    return write_bitstream(header_for(maps, k, coder, depth.tile), code_segments(maps, k, coder, &per_position), depth);
  }

  std::vector<uint8_t> pack(const IndexMaps& maps, int k, Coder coder) const {
    return write_bitstream(header_for(maps, k, coder), code_segments(maps, k, coder));
  }

  // Per depth d = 0..k (k: the maps held), per tile of `tile` positions on a side, the
  // truncation energy (HrvqModelImpl::truncation_energy) summed over the tile. Run in
  // bands of whole tile rows so that its tensors stay small whatever the image size.
  std::vector<std::vector<double>> tile_truncation_energy(const IndexMaps& maps, uint32_t tile) const {
    const uint32_t gw = maps.cols.back(), gh = maps.rows.back();
    const uint32_t tiles_x = (gw + tile - 1) / tile, tiles_y = (gh + tile - 1) / tile;
    const size_t k = maps.maps.size();
    std::vector<std::vector<double>> out(k + 1, std::vector<double>(size_t(tiles_x) * tiles_y, 0.0));
    const uint32_t band = tile * std::max<uint32_t>(1, (1u << 16) / std::max<uint32_t>(1, gw * tile));
    HrvqModel m = net();
    for (uint32_t y0 = 0; y0 < gh; y0 += band) {
      const uint32_t rows = std::min(band, gh - y0);
      CodeMaps codes;
      for (const auto& map : maps.maps) {
        auto t = torch::empty({1, int64_t(rows), int64_t(gw)}, torch::kInt64);
        int64_t* p = t.data_ptr<int64_t>();
        for (size_t i = 0; i < size_t(rows) * gw; ++i) p[i] = map[size_t(y0) * gw + i];
        codes.push_back(t);
      }
      std::vector<torch::Tensor> energy;
      {
        auto lock = device_lock();
        for (auto& t : codes) t = t.to(device);
        energy = m->truncation_energy(codes);
        for (auto& e : energy) e = e.to(torch::kCPU, torch::kFloat64).contiguous();
      }
      for (size_t d = 0; d <= k; ++d) {
        const double* e = energy[d].data_ptr<double>();
        for (uint32_t y = 0; y < rows; ++y)
          for (uint32_t x = 0; x < gw; ++x) out[d][size_t((y0 + y) / tile) * tiles_x + x / tile] += e[size_t(y) * gw + x];
      }
    }
    return out;
  }

  // The calibration crop of the depth-map encoder (map_weights_from_crop): a square of
  // kCropLatents latent positions at the image's centre, or all of a smaller image.
  // Measured on BSDS500 validation, one crop of 16 x 16 positions weighs the maps as well
  // as two or three (docs/adaptive-tuning.md); its decodes cost about 1/40 of the image's
  // each on a 481 x 321 photo, and less on larger ones.
  static constexpr uint32_t kCropLatents = 16;
  struct Crop {
    IndexMaps maps;
    Image pixels;
  };
  Crop calibration_crop(const IndexMaps& maps, const Image& image) const {
    const uint32_t gw = maps.cols.back(), gh = maps.rows.back(), step = static_cast<uint32_t>(d);
    const uint32_t cw = std::min(kCropLatents, gw), ch = std::min(kCropLatents, gh);
    const uint32_t x0 = (gw - cw) / 2, y0 = (gh - ch) / 2;
    Crop crop;
    // Latent positions past the image's edge (the padding) have no pixels: the crop
    // stops at the image.
    const uint32_t pw = std::min(cw * step, maps.width - x0 * step), ph = std::min(ch * step, maps.height - y0 * step);
    crop.maps.width = pw;
    crop.maps.height = ph;
    for (const auto& [rows, cols] : grids(ph, pw))
      crop.maps.rows.push_back(static_cast<uint32_t>(rows)), crop.maps.cols.push_back(static_cast<uint32_t>(cols));
    const uint32_t qw = crop.maps.cols.back(), qh = crop.maps.rows.back();
    for (const auto& map : maps.maps) {
      std::vector<uint16_t> part(size_t(qw) * qh);
      for (uint32_t y = 0; y < qh; ++y)
        std::copy_n(map.begin() + std::ptrdiff_t(size_t(y0 + y) * gw + x0), qw, part.begin() + std::ptrdiff_t(size_t(y) * qw));
      crop.maps.maps.push_back(std::move(part));
    }
    crop.pixels.width = static_cast<int>(pw);
    crop.pixels.height = static_cast<int>(ph);
    crop.pixels.channels = image.channels;
    const size_t C = static_cast<size_t>(image.channels);
    crop.pixels.pixels.resize(size_t(pw) * ph * C);
    for (uint32_t y = 0; y < ph; ++y)
      std::memcpy(&crop.pixels.pixels[size_t(y) * pw * C],
                  &image.pixels[(size_t(y0 * step + y) * image.width + x0 * step) * C], size_t(pw) * C);
    return crop;
  }
  // map_weights_from_crop on the calibration crop, decoded at each of `depths`: one
  // decoder pass over a batch of copies of the crop, each with a depth map of one depth.
  std::vector<double> crop_map_weights(const IndexMaps& maps, const Image& image, const std::vector<int>& depths) const {
    const Crop crop = calibration_crop(maps, image);
    const uint32_t side = std::max(crop.maps.cols.back(), crop.maps.rows.back());
    std::vector<IndexMaps> copies(depths.size(), crop.maps);
    std::vector<const IndexMaps*> batch;
    for (size_t c = 0; c < depths.size(); ++c) {
      copies[c].depth = make_depth_map(crop.maps.cols.back(), crop.maps.rows.back(), side, static_cast<uint8_t>(depths[c]));
      batch.push_back(&copies[c]);
    }
    const auto decoded = synthesize_group(batch, *std::max_element(depths.begin(), depths.end()));
    std::vector<double> sse, proxy;
    for (const Image& im : decoded) sse.push_back(tile_sse(crop.pixels, im, side * static_cast<uint32_t>(d), 1, 1)[0]);
    for (const auto& e : tile_truncation_energy(crop.maps, side)) proxy.push_back(e[0]);
    return map_weights_from_crop(depths, sse, proxy);
  }

  // The file for one image under a rate target with a depth map (EncodeOptions::depth_tile):
  // the target is first read as a uniform depth k0 (and, except for --psnr, a byte
  // budget), the image is decoded at the uniform depths around k0, and lambda is searched
  // so that the per-tile choice meets the target. When the choice does not beat the
  // uniform file by its own measure, the uniform file is written instead.
  std::vector<uint8_t> pack_adaptive(const IndexMaps& maps, const Image& image, const EncodeOptions& o,
                                     const std::string& name) const {
    const int n = model.config.num_layers();
    const auto segments = code_segments(maps, n, o.coder);
    std::vector<size_t> sizes;  // sizes[k - 1]: bytes of the uniform file of k maps
    size_t total = kBitstreamHeaderSize;
    for (const auto& seg : segments) sizes.push_back(total += kSegmentHeaderSize + seg.size());
    auto uniform = [&](int k) {
      std::vector<std::vector<uint8_t>> prefix(segments.begin(), segments.begin() + k);
      return write_bitstream(header_for(maps, k, o.coder), prefix);
    };
    const uint32_t tile = static_cast<uint32_t>(o.depth_tile), gw = maps.cols.back(), gh = maps.rows.back();
    const uint32_t tiles_x = (gw + tile - 1) / tile, tiles_y = (gh + tile - 1) / tile;
    const double samples = double(maps.width) * maps.height * image.channels;
    // Only each tile's error is kept per depth, so memory does not grow with the
    // number of depths tried.
    std::map<int, std::vector<double>> sse_at;
    auto sse_of = [&](int k) -> const std::vector<double>& {
      auto it = sse_at.find(k);
      if (it == sse_at.end())
        it = sse_at.emplace(k, tile_sse(image, synthesize_group({&maps}, k)[0], tile * static_cast<uint32_t>(d), tiles_x,
                                        tiles_y)).first;
      return it->second;
    };
    auto psnr_of_sse = [&](double sse) {
      return sse <= 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 * samples / sse);
    };
    auto sum = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); };

    int k0 = n;
    double budget = 0;
    const bool by_psnr = o.rate.kind == RateTarget::Kind::Psnr && o.layers == 0;
    if (o.layers != 0 || o.rate.kind == RateTarget::Kind::Layers) {
      k0 = layers_to_write(o.layers != 0 ? o.layers : static_cast<int>(o.rate.value), name);
    } else if (o.rate.kind == RateTarget::Kind::Quality) {
      k0 = layers_for_quality(static_cast<int>(o.rate.value), n);
    } else if (o.rate.kind == RateTarget::Kind::Bpp) {
      budget = o.rate.value * double(maps.width) * maps.height / 8.0;
      k0 = layers_for_size(sizes, budget);
      if (k0 == 0)
        throw Error(with_name(name, fmt::format("cannot meet --bpp {:g}: the smallest file this model makes is {:.4f} bpp",
                                                o.rate.value, 8.0 * sizes[0] / (double(maps.width) * maps.height))));
    } else if (by_psnr) {
      bool reached = false;
      k0 = layers_for_psnr(n, o.rate.value, [&](int j) { return psnr_of_sse(sum(sse_of(j))); }, &reached);
      if (!reached) {
        if (options.warn)
          options.warn(with_name(name, fmt::format("--psnr {:g} is out of reach: wrote the top rate ({} maps, {:.2f} dB)",
                                                   o.rate.value, n, psnr_of_sse(sum(sse_of(n))))));
        return uniform(n);
      }
    }
    if (budget == 0) budget = double(sizes[k0 - 1]);
    const int lo = std::max(1, k0 - o.depth_window), hi = std::min(n, k0 + o.depth_window);
    if (lo == hi || (!by_psnr && k0 == n)) return uniform(k0);  // nothing to trade

    TileCosts costs;
    costs.tiles = size_t(tiles_x) * tiles_y;
    for (int k = lo; k <= hi; ++k) costs.depths.push_back(k);
    // --psnr compares the errors with a target in pixels, so it needs a slope from two
    // decodes at least; the other targets only rank depths.
    const int decodes = by_psnr ? std::max(2, o.depth_decodes) : o.depth_decodes;
    for (int a : anchor_depths(lo, hi, k0, decodes)) sse_of(a);
    if (std::all_of(costs.depths.begin(), costs.depths.end(), [&](int k) { return sse_at.count(k) > 0; })) {
      costs.sse.resize(costs.tiles * costs.depths.size());
      for (size_t c = 0; c < costs.depths.size(); ++c) {
        const auto& e = sse_of(costs.depths[c]);
        for (size_t t = 0; t < costs.tiles; ++t) costs.sse[t * costs.depths.size() + c] = e[t];
      }
    } else {
      costs.sse = estimate_tile_sse(costs.tiles, costs.depths, tile_truncation_energy(maps, tile), sse_at,
                                    crop_map_weights(maps, image, costs.depths));
    }
    std::vector<std::vector<float>> bits;
    if (has_counts) {
      std::vector<std::vector<uint16_t>> prefix(maps.maps.begin(), maps.maps.begin() + hi);
      bits = position_bits(prefix, entropy, model.config.quantizer == QuantizerKind::Hr,
                           static_cast<unsigned>(model.config.groups), static_cast<uint32_t>(model.config.codes));
    } else {  // raw or zstd: every code costs about its raw bits
      bits.assign(static_cast<size_t>(hi), std::vector<float>(size_t(gw) * gh,
                                                               float(raw_bits_per_symbol(uint32_t(model.config.codes)))));
    }
    costs.bits = tile_bits(bits, gw, gh, tile, costs.depths);
    auto depth_map_for = [&](double lambda) {
      DepthMap map = make_depth_map(gw, gh, tile, 1);
      map.depth = choose_depths(costs, lambda);
      return map;
    };
    // lambda trades squared 8-bit error against bits; photos' useful range is about
    // 10..10^4 (docs/adaptive-rate-study.md), the search spans far more.
    // With no decode the proxy's scale (latent units) stands in, hence the wide range.
    constexpr double kLambdaLo = 1e-6, kLambdaHi = 1e9;
    constexpr int kProbes = 16;
    // --adaptive-tune ssim: every tile's error weighed by SSIM's sensitivity to it; the
    // --psnr target compares errors with a PSNR, so it keeps them as they are.
    if (!by_psnr && o.depth_ssim_weight > 0) {
      const auto w = ssim_tile_weights(image, tile * static_cast<uint32_t>(d), tiles_x, tiles_y, o.depth_ssim_weight);
      for (size_t t = 0; t < costs.tiles; ++t)
        for (size_t c = 0; c < costs.depths.size(); ++c) costs.sse[t * costs.depths.size() + c] *= w[t];
    }
    // The uniform file's error and bits on the same scale as the choice's (the proxy's,
    // with no decode).
    const std::vector<uint8_t> uniform_depths(costs.tiles, static_cast<uint8_t>(k0));
    const double uniform_sse = choice_sse(costs, uniform_depths);
    if (!by_psnr) {
      std::vector<uint8_t> best;
      double best_lambda = 0;
      auto consider = [&](double lambda) {
        auto file = pack_depth(maps, depth_map_for(lambda), o.coder);
        const double size = double(file.size());
        if (size <= budget && (best.empty() || lambda < best_lambda)) best = std::move(file), best_lambda = lambda;
        return size;
      };
      // Coding a candidate file costs about a twentieth of a decode, so lambda is first
      // searched on the static bits of each choice, scaled by what the real coder made of
      // the uniform file, and only the result is coded; a miss moves the target by the
      // ratio it missed by. Measured on BSDS500 validation: files within 0.5% of the
      // budget in 2 or 3 codings rather than 16 (docs/adaptive-tuning.md). The full
      // bisection on real sizes remains the fallback.
      const double uniform_bits = choice_bits(costs, uniform_depths);
      const double bytes_per_bit = uniform_bits > 0 ? double(sizes[k0 - 1]) / uniform_bits : 0.125;
      auto estimated_size = [&](double lambda) { return choice_bits(costs, choose_depths(costs, lambda)) * bytes_per_bit; };
      double target = budget;
      for (int attempt = 0; attempt < 4; ++attempt) {
        const double lambda = smallest_lambda(kLambdaLo, kLambdaHi, kProbes,
                                              [&](double l) { return estimated_size(l) <= target; });
        const double size = consider(lambda);
        if (size <= budget && size >= 0.995 * budget) break;
        target *= budget / size;
      }
      if (best.empty())
        smallest_lambda(kLambdaLo, kLambdaHi, kProbes, [&](double lambda) { return consider(lambda) <= budget; });
      if (best.empty() || choice_sse(costs, depth_map_for(best_lambda).depth) >= uniform_sse) return uniform(k0);
      return best;
    }
    // --psnr: the largest lambda (the smallest file) whose estimated error is within the
    // target, searched as the smallest 1 / lambda; then checked by decoding it. The
    // estimate sums tiles decoded apart, and neighbours of another depth blur a tile's
    // edge a little, so a miss is retried with the target raised by 0.1 dB at a time.
    for (int attempt = 0; attempt < 4; ++attempt) {
      const double target_sse = samples * 255.0 * 255.0 / std::pow(10.0, (o.rate.value + 0.1 * attempt) / 10.0);
      const double mu = smallest_lambda(1.0 / kLambdaHi, 1.0 / kLambdaLo, kProbes, [&](double m) {
        return choice_sse(costs, choose_depths(costs, 1.0 / m)) <= target_sse;
      });
      IndexMaps mixed = maps;
      mixed.depth = depth_map_for(1.0 / mu);
      auto file = pack_depth(maps, mixed.depth, o.coder);
      if (file.size() >= sizes[k0 - 1]) break;  // a stricter target only grows it
      mixed.maps.resize(static_cast<size_t>(*std::max_element(mixed.depth.depth.begin(), mixed.depth.depth.end())));
      if (psnr(image, synthesize_group({&mixed}, static_cast<int>(mixed.maps.size()))[0]) >= o.rate.value) return file;
    }
    return uniform(k0);
  }

  // The file for one image under a rate target.
  std::vector<uint8_t> pack_for_target(const IndexMaps& maps, const Image& image, const EncodeOptions& o,
                                       const std::string& name) const {
    const int n = model.config.num_layers();
    if (o.depth_tile > 0 && (o.layers != 0 || o.rate.kind != RateTarget::Kind::All))
      return pack_adaptive(maps, image, o, name);
    if (o.layers != 0 || o.rate.kind == RateTarget::Kind::All || o.rate.kind == RateTarget::Kind::Layers) {
      const int k = o.layers != 0 ? o.layers
                    : o.rate.kind == RateTarget::Kind::Layers ? static_cast<int>(o.rate.value) : 0;
      return pack(maps, layers_to_write(k, name), o.coder);
    }
    if (o.rate.kind == RateTarget::Kind::Quality)
      return pack(maps, layers_for_quality(static_cast<int>(o.rate.value), n), o.coder);
    auto segments = code_segments(maps, n, o.coder);
    auto file_of = [&](int k) {
      std::vector<std::vector<uint8_t>> prefix(segments.begin(), segments.begin() + k);
      return write_bitstream(header_for(maps, k, o.coder), prefix);
    };
    if (o.rate.kind == RateTarget::Kind::Bpp) {
      std::vector<size_t> sizes;
      size_t total = kBitstreamHeaderSize;
      for (const auto& seg : segments) sizes.push_back(total += kSegmentHeaderSize + seg.size());
      const double pixels = double(maps.width) * maps.height;
      const int k = layers_for_size(sizes, o.rate.value * pixels / 8.0);
      if (k == 0)
        throw Error(with_name(name, fmt::format("cannot meet --bpp {:g}: the smallest file this model makes is {:.4f} bpp",
                                                o.rate.value, 8.0 * sizes[0] / pixels)));
      return file_of(k);
    }
    bool reached = false;
    const int k = layers_for_psnr(n, o.rate.value, [&](int j) {
      return psnr(image, synthesize_group({&maps}, j)[0]);
    }, &reached);
    if (!reached && options.warn)
      options.warn(with_name(name, fmt::format("--psnr {:g} is out of reach: wrote the top rate ({} maps, {:.2f} dB)",
                                               o.rate.value, n, psnr(image, synthesize_group({&maps}, n)[0]))));
    return file_of(k);
  }

  // Parses and entropy-decodes a bitstream's first `layers` layers (0 = all present).
  IndexMaps unpack(const uint8_t* data, size_t size, const std::string& name, int layers, int* k_out) const {
    ParsedBitstream parsed = parse_bitstream(data, size, name);
    const BitstreamHeader& h = parsed.header;
    if (h.model_fingerprint != model.file.fingerprint)
      throw Error(with_name(name, fmt::format("made with model {:016x} but the model is {:016x} ({})",
                                              h.model_fingerprint, model.file.fingerprint, path)));
    const ModelConfig& c = model.config;
    if (h.channels != c.image_channels || h.downsample != d || h.quantizer != stream_quantizer(c.quantizer) ||
        h.codes != c.codes || h.layers != c.num_layers() || h.groups != c.groups)
      throw Error(with_name(name, fmt::format("header does not describe the model {} (same fingerprint, other "
                                              "configuration)", path)));
    if (layers < 0 || layers > h.layers)
      throw Error(with_name(name, fmt::format("--layers {} is outside 1..{} (the file's layers)", layers, h.layers)));
    const int present = static_cast<int>(parsed.segments.size());
    if (parsed.truncated && (layers == 0 || layers > present) && options.warn)
      options.warn(with_name(name, fmt::format("truncated: decoding from {} of {} layers", present, h.layers_present)));
    const int k = layers == 0 ? present : std::min(layers, present);
    check_coder(h.coder, name);
    IndexMaps maps;
    maps.width = h.width;
    maps.height = h.height;
    for (auto& [rows, cols] : grids(h.height, h.width)) {
      maps.rows.push_back(static_cast<uint32_t>(rows));
      maps.cols.push_back(static_cast<uint32_t>(cols));
    }
    if (maps.cols.back() != h.grid_w || maps.rows.back() != h.grid_h)
      throw Error(with_name(name, "header's latent grid does not match the model's"));
    const bool rans = h.coder == Coder::Rans || h.coder == Coder::RansCtx;
    const unsigned G = static_cast<unsigned>(c.groups);
    std::vector<uint8_t> depth;  // per position, when the file has a depth map
    if (!parsed.depth.empty()) {
      maps.depth = parsed.depth;
      depth = position_depths(parsed.depth, h.grid_w, h.grid_h, static_cast<unsigned>(k));
    }
    MapContexts contexts(c.quantizer == QuantizerKind::Hr, G);
    maps.maps.resize(static_cast<size_t>(k));
    // Each group's maps are one chain; the groups decode concurrently. The error
    // reported is that of the lowest failing layer, as a sequential decoder finds it.
    std::vector<int> failed_at(G, k);
    std::vector<std::string> why(G);
    for_each_group(std::min<unsigned>(G, static_cast<unsigned>(k)), entropy_threads, [&](unsigned g) {
      for (int l = static_cast<int>(g); l < k; l += static_cast<int>(G)) {
        const size_t count = size_t(maps.rows[l]) * maps.cols[l];
        const uint32_t* ctx = rans ? contexts.for_map(static_cast<unsigned>(l), count) : nullptr;
        const auto& seg = parsed.segments[l];
        try {
          if (depth.empty()) {
            maps.maps[l] = decode_index_map_2d(seg.data(), seg.size(), ctx, count, maps.cols[l], entropy[l], h.coder);
          } else {
            const auto present = present_in_map(depth, static_cast<unsigned>(l));
            maps.maps[l] = decode_index_map_masked(seg.data(), seg.size(), ctx, present.data(), count, maps.cols[l],
                                                   entropy[l], h.coder);
          }
        } catch (const Error& e) {
          failed_at[g] = l;
          why[g] = e.what();
          return;
        }
        if (rans) contexts.advance(static_cast<unsigned>(l), maps.maps[l], static_cast<uint32_t>(c.codes));
      }
    });
    const auto first = std::min_element(failed_at.begin(), failed_at.end());
    if (*first < k)
      throw Error(with_name(name, fmt::format("layer {}: {}", *first + 1, why[first - failed_at.begin()])));
    *k_out = k;
    return maps;
  }
};

Codec::Codec(const std::string& model_path, CodecOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  s.path = model_path;
  s.device = resolve_device(s.options.device);
  s.model = load_model(model_path, s.device);
  if (s.options.precision == Precision::Bf16) {
    if (!bf16_convolutions_available(s.device))
      throw Error(fmt::format("{}: --precision bf16 needs a CPU with AVX-512 (or a CUDA device); this one has "
                              "no bf16 convolutions (use fp32)", model_path));
    s.model.net->set_network_dtype(torch::kBFloat16);
  }
  if (s.options.frozen_networks) s.model.net->freeze_for_inference();
  const ModelConfig& c = s.model.config;
  if (c.codes > static_cast<int>(kMaxSymbols))
    throw Error(fmt::format("{}: {} codes per codebook; the bitstream allows at most {}", model_path, c.codes, kMaxSymbols));
  if (s.options.batch < 1) s.options.batch = 1;
  s.f = c.grid_factor();
  s.d = c.downsample;
  s.enc_halo_px = encoder_halo_pixels(c);
  s.dec_halo_lat = decoder_halo_latents(c);
  s.has_counts = !s.model.counts.empty();
  s.entropy_threads = static_cast<unsigned>(s.options.entropy_threads > 0 ? s.options.entropy_threads
                                                                          : std::max(1, runtime_threads()));
  const auto sizes = c.layer_table_sizes();
  const uint32_t m = static_cast<uint32_t>(c.codes);
  for (int l = 0; l < c.num_layers(); ++l) {
    if (s.has_counts) {
      // hr: a row is parent * m + local, so each block of m rows is one parent's context.
      const uint32_t contexts = static_cast<uint32_t>(sizes[l] / m);
      s.entropy.emplace_back(s.model.counts[l], contexts, m);
    } else {
      // raw and zstd only need the alphabet size.
      s.entropy.emplace_back(std::vector<uint64_t>(m, 0), 1, m);
    }
  }
}

Codec::~Codec() = default;
Codec::Codec(Codec&&) noexcept = default;
Codec& Codec::operator=(Codec&&) noexcept = default;

const std::string& Codec::model_path() const { return impl_->path; }
uint64_t Codec::fingerprint() const { return impl_->model.file.fingerprint; }
int Codec::channels() const { return impl_->model.config.image_channels; }
int Codec::layers() const { return impl_->model.config.num_layers(); }
int Codec::codes() const { return impl_->model.config.codes; }
int Codec::grid_factor() const { return static_cast<int>(impl_->f); }
bool Codec::has_counts() const { return impl_->has_counts; }

IndexMaps Codec::analyze(const Image& image, const std::string& name, int beam, double rdo_lambda) const {
  Image img = impl_->conform(image, name);
  return std::move(impl_->analyze_group({&img}, beam, impl_->code_costs(rdo_lambda))[0]);
}

Image Codec::synthesize(const IndexMaps& maps, int layers) const {
  const int n = static_cast<int>(maps.maps.size());
  if (n < 1 || n > impl_->model.config.num_layers()) throw Error("synthesize: wrong number of index maps");
  const int k = layers <= 0 ? n : std::min(layers, n);
  return std::move(impl_->synthesize_group({&maps}, k)[0]);
}

std::vector<uint8_t> Codec::encode(const Image& image, const EncodeOptions& options) const {
  return std::move(encode_batch({image}, options, {options.name})[0]);
}

std::vector<std::vector<uint8_t>> Codec::encode_batch(const std::vector<Image>& images, const EncodeOptions& options,
                                                      const std::vector<std::string>& names) const {
  auto name_of = [&](size_t i) { return i < names.size() && !names[i].empty() ? names[i] : options.name; };
  impl_->layers_to_write(options.layers, options.name);  // rejects an impossible --layers before any work
  impl_->check_coder(options.coder, options.name);
  if (options.depth_tile < 0 || options.depth_tile > static_cast<int>(kMaxDepthTile))
    throw Error(with_name(options.name, fmt::format("depth tile {} is outside 1..{}", options.depth_tile, kMaxDepthTile)));
  if (options.depth_window < 1 || options.depth_window > 64)
    throw Error(with_name(options.name, fmt::format("depth window {} is outside 1..64", options.depth_window)));
  if (options.depth_tile > 0) {
    const auto q = impl_->model.config.quantizer;
    if (q != QuantizerKind::Hr && q != QuantizerKind::Rvq)
      throw Error(with_name(options.name, fmt::format("--adaptive needs an hr or rvq model; {} is {}", impl_->path,
                                                      q == QuantizerKind::Vq ? "vq" : "vq2")));
  }
  if (options.beam < 1 || options.beam > 64)
    throw Error(with_name(options.name, fmt::format("beam width {} is outside 1..64", options.beam)));
  if (!(options.rdo_lambda >= 0)) throw Error(with_name(options.name, "--rdo must be >= 0"));
  if (options.rdo_lambda > 0 && !impl_->has_counts)
    throw Error(with_name(options.name, fmt::format("--rdo needs code counts, which the model {} lacks", impl_->path)));
  std::vector<Image> conformed;
  conformed.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) conformed.push_back(impl_->conform(images[i], name_of(i)));
  const auto costs = impl_->code_costs(options.rdo_lambda);
  std::map<std::pair<int, int>, std::vector<size_t>> by_size;
  for (size_t i = 0; i < conformed.size(); ++i) by_size[{conformed[i].width, conformed[i].height}].push_back(i);
  std::vector<std::vector<uint8_t>> out(images.size());
  const size_t batch = static_cast<size_t>(impl_->options.batch);
  for (const auto& [size, indices] : by_size) {
    for (size_t start = 0; start < indices.size(); start += batch) {
      std::vector<const Image*> group;
      for (size_t j = start; j < std::min(indices.size(), start + batch); ++j) group.push_back(&conformed[indices[j]]);
      auto maps = impl_->analyze_group(group, options.beam, costs);
      for (size_t j = 0; j < maps.size(); ++j) {
        const size_t i = indices[start + j];
        out[i] = impl_->pack_for_target(maps[j], conformed[i], options, name_of(i));
      }
    }
  }
  return out;
}

Image Codec::decode(const uint8_t* data, size_t size, const std::string& name, int layers) const {
  int k = 0;
  IndexMaps maps = impl_->unpack(data, size, name, layers, &k);
  return std::move(impl_->synthesize_group({&maps}, k)[0]);
}

std::vector<Image> Codec::decode_batch(const std::vector<std::vector<uint8_t>>& streams,
                                       const std::vector<std::string>& names, int layers) const {
  std::vector<IndexMaps> maps(streams.size());
  std::vector<int> ks(streams.size());
  for (size_t i = 0; i < streams.size(); ++i)
    maps[i] = impl_->unpack(streams[i].data(), streams[i].size(), i < names.size() ? names[i] : "", layers, &ks[i]);
  std::map<std::tuple<uint32_t, uint32_t, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < maps.size(); ++i) groups[{maps[i].width, maps[i].height, ks[i]}].push_back(i);
  std::vector<Image> out(streams.size());
  const size_t batch = static_cast<size_t>(impl_->options.batch);
  for (const auto& [key, indices] : groups) {
    for (size_t start = 0; start < indices.size(); start += batch) {
      std::vector<const IndexMaps*> group;
      for (size_t j = start; j < std::min(indices.size(), start + batch); ++j) group.push_back(&maps[indices[j]]);
      auto images = impl_->synthesize_group(group, std::get<2>(key));
      for (size_t j = 0; j < images.size(); ++j) out[indices[start + j]] = std::move(images[j]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------

struct ModelSet::Impl {
  struct Candidate {
    std::string path;
    bool given = false;
    std::optional<uint64_t> fingerprint;
    std::unique_ptr<Codec> codec;
  };
  CodecOptions options;
  bool search_bundled = false;
  bool listed_bundled = false;
  size_t given_count = 0;
  std::vector<Candidate> candidates;
  std::mutex mutex;

  void list_bundled() {
    if (listed_bundled || !search_bundled) return;
    listed_bundled = true;
    for (auto& p : bundled_model_paths()) candidates.push_back(Candidate{p, false, std::nullopt, nullptr});
  }
};

ModelSet::ModelSet(std::vector<std::string> model_paths, bool search_bundled, CodecOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->search_bundled = search_bundled;
  impl_->given_count = model_paths.size();
  for (auto& p : model_paths) impl_->candidates.push_back(Impl::Candidate{std::move(p), true, std::nullopt, nullptr});
}

ModelSet::~ModelSet() = default;

const Codec& ModelSet::codec_for(const uint8_t* data, size_t size, const std::string& name) {
  const uint64_t wanted = parse_bitstream(data, size, name).header.model_fingerprint;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& s = *impl_;
  // Given models first, so that a model named on the command line wins over a bundled
  // copy; bundled ones are only read when no given one matches.
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) s.list_bundled();
    for (auto& c : s.candidates) {
      if (!c.fingerprint) {
        try {
          auto bytes = read_file(c.path, kModelFileMaxSize);
          c.fingerprint = fingerprint64(bytes.data(), bytes.size());
        } catch (const Error&) {
          if (c.given) throw;
          c.fingerprint = 0;  // an unreadable bundled file matches nothing
          continue;
        }
      }
      if (*c.fingerprint != wanted) continue;
      if (!c.codec) c.codec = std::make_unique<Codec>(c.path, s.options);
      return *c.codec;
    }
  }
  if (s.given_count == 1)
    throw Error(with_name(name, fmt::format("made with model {:016x} but the model is {:016x} ({})", wanted,
                                            s.candidates[0].fingerprint.value_or(0), s.candidates[0].path)));
  if (s.candidates.empty())
    throw Error(with_name(name, fmt::format("made with model {:016x}; no model given (-m) and none bundled", wanted)));
  std::string list;
  for (size_t i = 0; i < s.candidates.size() && i < 8; ++i) list += (i ? ", " : "") + s.candidates[i].path;
  if (s.candidates.size() > 8) list += fmt::format(", and {} more", s.candidates.size() - 8);
  throw Error(with_name(name, fmt::format("made with model {:016x}, which is none of {}", wanted, list)));
}

// ---------------------------------------------------------------------------------

std::string describe_bitstream_json(const ParsedBitstream& parsed, size_t file_size) {
  const BitstreamHeader& h = parsed.header;
  const double pixels = double(h.width) * h.height;
  std::string layers, depth = "null";
  size_t cumulative = parsed.header_size;
  if (!parsed.depth.empty()) {
    cumulative += kSegmentHeaderSize + parsed.depth_segment_bytes;
    std::vector<size_t> per_depth(h.layers_present + 1, 0);
    for (uint8_t v : parsed.depth.depth) ++per_depth[v];
    std::string hist;
    for (unsigned k = 1; k <= h.layers_present; ++k) hist += fmt::format("{}{}", k > 1 ? "," : "", per_depth[k]);
    depth = fmt::format("{{\"tile\":{},\"tiles_x\":{},\"tiles_y\":{},\"bytes\":{},\"tiles_per_depth\":[{}]}}",
                        h.depth_tile, parsed.depth.tiles_x, parsed.depth.tiles_y, parsed.depth_segment_bytes, hist);
  }
  for (size_t i = 0; i < parsed.segments.size(); ++i) {
    const size_t bytes = parsed.segments[i].size();
    cumulative += kSegmentHeaderSize + bytes;
    layers += fmt::format("{}{{\"layer\":{},\"bytes\":{},\"positions\":{},\"prefix_bpp\":{:.6f}}}", i ? "," : "", i + 1,
                          bytes, coded_positions(h, parsed.depth, static_cast<unsigned>(i)), 8.0 * cumulative / pixels);
  }
  return fmt::format(
      "{{\"format\":\"hrvq-bitstream\",\"version\":{},\"file_bytes\":{},\"width\":{},\"height\":{},\"channels\":{},"
      "\"quantizer\":\"{}\",\"codes\":{},\"layers\":{},\"layers_present\":{},\"layers_complete\":{},\"truncated\":{},"
      "\"groups\":{},\"downsample\":{},\"grid_width\":{},\"grid_height\":{},\"coder\":\"{}\",\"model_fingerprint\":\"{:016x}\","
      "\"depth_map\":{},\"segments\":[{}],\"bpp\":{:.6f}}}",
      h.version, file_size, h.width, h.height, h.channels, stream_quantizer_name(h.quantizer), h.codes, h.layers,
      h.layers_present, parsed.segments.size(), parsed.truncated ? "true" : "false", h.groups, h.downsample, h.grid_w, h.grid_h,
      coder_name(h.coder), h.model_fingerprint, depth, layers, 8.0 * file_size / pixels);
}

}  // namespace hrvq
