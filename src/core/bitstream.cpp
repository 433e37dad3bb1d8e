#include "hrvq/bitstream.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

constexpr uint8_t kMagic[4] = {'H', 'R', 'V', 'Q'};

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t get64(const uint8_t* p) { return uint64_t{get32(p)} | uint64_t{get32(p + 4)} << 32; }

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(v >> (8 * k)));
}
void put64(std::vector<uint8_t>& out, uint64_t v) {
  put32(out, static_cast<uint32_t>(v));
  put32(out, static_cast<uint32_t>(v >> 32));
}

std::string prefix(const std::string& name) { return name.empty() ? std::string() : name + ": "; }

[[noreturn]] void fail(const std::string& name, const std::string& what) { throw Error(prefix(name) + what); }

uint32_t segment_crc(const uint8_t* length_field, const uint8_t* payload, size_t size) {
  return crc32(payload, size, crc32(length_field, 4));
}

}  // namespace

const char* stream_quantizer_name(StreamQuantizer q) {
  switch (q) {
    case StreamQuantizer::Hr: return "hr";
    case StreamQuantizer::Vq: return "vq";
    case StreamQuantizer::Rvq: return "rvq";
    case StreamQuantizer::Vq2: return "vq2";
  }
  return "?";
}

uint16_t expected_grid_side(uint32_t image_side, uint8_t downsample, StreamQuantizer q) {
  if (downsample == 0) throw Error("downsampling factor is zero");
  const uint32_t g = uint32_t{downsample} * (q == StreamQuantizer::Vq2 ? 2 : 1);
  const uint64_t side = uint64_t{(image_side + g - 1) / g} * (g / downsample);
  if (side > 65535) throw Error("latent grid side does not fit in 16 bits");
  return static_cast<uint16_t>(side);
}

uint64_t hr_layer_contexts(uint32_t m, unsigned layer) {
  uint64_t c = 1;
  for (unsigned i = 0; i < layer; ++i) {
    c *= m;
    if (c > (uint64_t{1} << 32)) return c;  // callers reject; stop before overflow
  }
  return c;
}

void validate_header(const BitstreamHeader& h, const std::string& name) {
  if (h.width < 1 || h.width > kMaxImageSide || h.height < 1 || h.height > kMaxImageSide)
    fail(name, fmt::format("image size {}x{} out of range (1..{} per side)", h.width, h.height, kMaxImageSide));
  if (uint64_t{h.width} * h.height > kMaxImagePixels)
    fail(name, fmt::format("image size {}x{} exceeds {} pixels", h.width, h.height, kMaxImagePixels));
  if (h.channels != 1 && h.channels != 3) fail(name, fmt::format("channel count {} is not 1 or 3", h.channels));
  if (h.downsample < 1 || h.downsample > 64 || (h.downsample & (h.downsample - 1)) != 0)
    fail(name, fmt::format("downsampling factor {} is not a power of two in 1..64", h.downsample));
  if (static_cast<uint8_t>(h.quantizer) > static_cast<uint8_t>(StreamQuantizer::Vq2))
    fail(name, fmt::format("unknown quantizer kind {}", static_cast<unsigned>(h.quantizer)));
  if (!is_valid_coder(static_cast<uint8_t>(h.coder)))
    fail(name, fmt::format("unknown coder {}", static_cast<unsigned>(h.coder)));
  if (h.codes < 2 || h.codes > kMaxSymbols)
    fail(name, fmt::format("codes per codebook {} out of range (2..{})", h.codes, kMaxSymbols));
  if (h.groups < 1 || h.groups > kMaxGroups)
    fail(name, fmt::format("group count {} out of range (1..{})", h.groups, kMaxGroups));
  if (h.groups > 1 && h.quantizer != StreamQuantizer::Hr && h.quantizer != StreamQuantizer::Rvq)
    fail(name, fmt::format("{} has one group, header says {}", stream_quantizer_name(h.quantizer), h.groups));
  switch (h.quantizer) {
    case StreamQuantizer::Vq:
      if (h.layers != 1) fail(name, fmt::format("vq has 1 layer, header says {}", h.layers));
      break;
    case StreamQuantizer::Vq2:
      if (h.layers != 2) fail(name, fmt::format("vq2 has 2 layers, header says {}", h.layers));
      break;
    case StreamQuantizer::Hr:
    case StreamQuantizer::Rvq:
      if (h.layers < 1 || h.layers > kMaxLayers)
        fail(name, fmt::format("layer count {} out of range (1..{})", h.layers, kMaxLayers));
      if (h.layers % h.groups != 0)
        fail(name, fmt::format("layer count {} is not a multiple of {} groups", h.layers, h.groups));
      if (tree_depth(h) > kMaxTreeDepth)
        fail(name, fmt::format("{} layers per group exceed {}", tree_depth(h), kMaxTreeDepth));
      // Global indices p_n < m^n must fit in 32 bits.
      if (h.quantizer == StreamQuantizer::Hr && hr_layer_contexts(h.codes, tree_depth(h)) > (uint64_t{1} << 32))
        fail(name, fmt::format("{} layers of {} codes exceed 32-bit global indices", tree_depth(h), h.codes));
      break;
  }
  if (h.layers_present < 1 || h.layers_present > h.layers)
    fail(name, fmt::format("layers present {} out of range (1..{})", h.layers_present, h.layers));
  if (h.depth_tile != 0 && h.quantizer != StreamQuantizer::Hr && h.quantizer != StreamQuantizer::Rvq)
    fail(name, fmt::format("a depth map needs an hr or rvq quantizer, header says {}", stream_quantizer_name(h.quantizer)));
  uint16_t gw = 0, gh = 0;
  try {
    gw = expected_grid_side(h.width, h.downsample, h.quantizer);
    gh = expected_grid_side(h.height, h.downsample, h.quantizer);
  } catch (const Error& e) {
    fail(name, e.what());
  }
  if (h.grid_w != gw || h.grid_h != gh)
    fail(name, fmt::format("latent grid {}x{} does not match image {}x{} at stride {} (expected {}x{})", h.grid_w,
                           h.grid_h, h.width, h.height, h.downsample, gw, gh));
}

size_t layer_positions(const BitstreamHeader& h, unsigned layer) {
  const size_t full = size_t{h.grid_w} * h.grid_h;
  if (h.quantizer == StreamQuantizer::Vq2 && layer == 0) return size_t{h.grid_w / 2u} * (h.grid_h / 2u);
  return full;
}

size_t coded_positions(const BitstreamHeader& h, const DepthMap& depth, unsigned layer) {
  if (depth.empty()) return layer_positions(h, layer);
  // Tiles are t x t except in the last column and row, which the grid may cut short.
  const size_t t = depth.tile;
  const size_t last_w = h.grid_w - (depth.tiles_x - 1) * t, last_h = h.grid_h - (depth.tiles_y - 1) * t;
  size_t n = 0;
  for (uint32_t y = 0; y < depth.tiles_y; ++y)
    for (uint32_t x = 0; x < depth.tiles_x; ++x)
      if (depth.depth[size_t(y) * depth.tiles_x + x] > layer)
        n += (x + 1 == depth.tiles_x ? last_w : t) * (y + 1 == depth.tiles_y ? last_h : t);
  return n;
}

size_t max_segment_size(const BitstreamHeader& h, unsigned layer) {
  return max_encoded_size(h.coder, h.codes, layer_positions(h, layer));
}

namespace {

void put_segment(std::vector<uint8_t>& out, const std::vector<uint8_t>& s) {
  const size_t at = out.size();
  put32(out, static_cast<uint32_t>(s.size()));
  const uint32_t crc = segment_crc(out.data() + at, s.data(), s.size());
  put32(out, crc);
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

std::vector<uint8_t> write_bitstream(const BitstreamHeader& h, const std::vector<std::vector<uint8_t>>& segments,
                                     const DepthMap& depth) {
  validate_header(h);
  if (segments.size() != h.layers_present)
    throw Error(fmt::format("bitstream writer: {} segments for {} layers present", segments.size(), h.layers_present));
  if (h.depth_tile != depth.tile) throw Error("bitstream writer: the header's depth tile differs from the depth map's");
  std::vector<uint8_t> depth_payload;
  if (!depth.empty()) {
    if (depth.tiles_x != (h.grid_w + depth.tile - 1u) / depth.tile ||
        depth.tiles_y != (h.grid_h + depth.tile - 1u) / depth.tile || depth.depth.size() != depth.tiles() ||
        *std::max_element(depth.depth.begin(), depth.depth.end()) != h.layers_present)
      throw Error("bitstream writer: the depth map does not fit the header");
    depth_payload = encode_depth_map(depth, h.layers);
  }
  size_t total = kBitstreamHeaderSize + (depth.empty() ? 0 : kSegmentHeaderSize + depth_payload.size());
  for (const auto& s : segments) total += kSegmentHeaderSize + s.size();
  std::vector<uint8_t> out;
  out.reserve(total);
  for (uint8_t b : kMagic) out.push_back(b);
  out.push_back(depth.empty() ? kBitstreamUniformVersion : kBitstreamVersion);
  out.push_back(0);  // flags
  put16(out, static_cast<uint16_t>(kBitstreamHeaderSize));
  put64(out, h.model_fingerprint);
  put32(out, h.width);
  put32(out, h.height);
  put16(out, h.grid_w);
  put16(out, h.grid_h);
  out.push_back(h.channels);
  out.push_back(h.downsample);
  out.push_back(static_cast<uint8_t>(h.quantizer));
  out.push_back(static_cast<uint8_t>(h.coder));
  put16(out, h.codes);
  out.push_back(h.layers);
  out.push_back(h.layers_present);
  out.push_back(h.groups);
  out.push_back(static_cast<uint8_t>(depth.tile));  // version 2: reserved, 0
  for (int k = 0; k < 2; ++k) out.push_back(0);     // reserved
  put32(out, crc32(out.data(), out.size()));
  if (!depth.empty()) put_segment(out, depth_payload);
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    const size_t coded = coded_positions(h, depth, static_cast<unsigned>(i));
    if (s.size() < min_encoded_size(h.coder, h.codes, coded) || s.size() > max_encoded_size(h.coder, h.codes, coded))
      throw Error(fmt::format("bitstream writer: layer {} segment of {} bytes is impossible for its coder", i + 1,
                              s.size()));
    put_segment(out, s);
  }
  return out;
}

ParsedBitstream parse_bitstream(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8) fail(name, size >= 4 && std::equal(kMagic, kMagic + 4, data) ? "truncated header" : "not an hrvq bitstream");
  if (!std::equal(kMagic, kMagic + 4, data)) fail(name, "not an hrvq bitstream (bad magic)");
  const uint8_t version = data[4];
  if (version < kBitstreamOldestVersion || version > kBitstreamVersion)
    fail(name, fmt::format("unsupported bitstream version {} (this build reads {}..{}{})", version,
                           kBitstreamOldestVersion, kBitstreamVersion,
                           version > kBitstreamVersion ? "; a newer hrvq wrote it" : ""));
  const size_t header_size = get16(data + 6);
  const size_t min_header = version == 1 ? kBitstreamV1HeaderSize : kBitstreamHeaderSize;
  if (header_size < min_header || header_size > kBitstreamMaxHeaderSize)
    fail(name, fmt::format("header length {} out of range", header_size));
  if (size < header_size) fail(name, "truncated header");
  if (crc32(data, header_size - 4) != get32(data + header_size - 4)) fail(name, "header is corrupt (CRC mismatch)");
  if (data[5] != 0) fail(name, fmt::format("unknown header flags 0x{:02x}", data[5]));

  ParsedBitstream p;
  BitstreamHeader& h = p.header;
  h.model_fingerprint = get64(data + 8);
  h.width = get32(data + 16);
  h.height = get32(data + 20);
  h.grid_w = get16(data + 24);
  h.grid_h = get16(data + 26);
  h.channels = data[28];
  h.downsample = data[29];
  h.quantizer = static_cast<StreamQuantizer>(data[30]);
  h.coder = static_cast<Coder>(data[31]);
  h.codes = get16(data + 32);
  h.layers = data[34];
  h.layers_present = data[35];
  h.version = version;
  h.groups = 1;
  if (version >= 2) {
    h.groups = data[36];
    if (version >= 3) h.depth_tile = data[37];
    if ((version < 3 && data[37]) || data[38] | data[39]) fail(name, "reserved header bytes are not zero");
  }
  validate_header(h, name);
  p.header_size = header_size;

  size_t pos = header_size;
  if (h.depth_tile != 0) {
    // The depth segment: without it no map can be decoded, so a cut here is no image.
    const uint32_t tiles_x = (h.grid_w + h.depth_tile - 1u) / h.depth_tile;
    const uint32_t tiles_y = (h.grid_h + h.depth_tile - 1u) / h.depth_tile;
    const size_t tiles = size_t(tiles_x) * tiles_y;
    if (size - pos < kSegmentHeaderSize) fail(name, "truncated: the depth map is incomplete");
    const uint32_t length = get32(data + pos);
    if (length < min_encoded_size(Coder::RansCtx, h.layers, tiles) || length > max_encoded_size(Coder::RansCtx, h.layers, tiles))
      fail(name, fmt::format("depth segment length {} is impossible for {} tiles", length, tiles));
    if (size - pos - kSegmentHeaderSize < length) fail(name, "truncated: the depth map is incomplete");
    const uint8_t* payload = data + pos + kSegmentHeaderSize;
    if (segment_crc(data + pos, payload, length) != get32(data + pos + 4))
      fail(name, "depth segment is corrupt (CRC mismatch)");
    try {
      p.depth = decode_depth_map(payload, length, h.grid_w, h.grid_h, h.depth_tile, h.layers, h.layers_present);
    } catch (const Error& e) {
      fail(name, std::string("depth map: ") + e.what());
    }
    p.depth_segment_bytes = length;
    pos += kSegmentHeaderSize + length;
  }
  for (unsigned layer = 0; layer < h.layers_present; ++layer) {
    if (size - pos < kSegmentHeaderSize) {
      p.truncated = true;
      break;
    }
    const uint32_t length = get32(data + pos);
    // Checked before looking at the rest of the file, so that a damaged length is
    // reported as damage where the bound allows, not mistaken for a cut file.
    const size_t coded = coded_positions(h, p.depth, layer);
    if (length < min_encoded_size(h.coder, h.codes, coded) || length > max_encoded_size(h.coder, h.codes, coded))
      fail(name, fmt::format("layer {} segment length {} is impossible for {} positions coded with {}", layer + 1,
                             length, coded, coder_name(h.coder)));
    if (size - pos - kSegmentHeaderSize < length) {
      p.truncated = true;
      break;
    }
    const uint8_t* payload = data + pos + kSegmentHeaderSize;
    if (segment_crc(data + pos, payload, length) != get32(data + pos + 4))
      fail(name, fmt::format("layer {} segment is corrupt (CRC mismatch)", layer + 1));
    p.segment_offsets.push_back(pos + kSegmentHeaderSize);
    p.segments.emplace_back(payload, payload + length);
    pos += kSegmentHeaderSize + length;
  }
  if (p.segments.empty()) fail(name, "truncated: no complete layer");
  if (!p.truncated && pos != size) fail(name, fmt::format("{} bytes of trailing garbage after the last layer", size - pos));
  return p;
}

std::string describe_bitstream(const ParsedBitstream& parsed, size_t file_size) {
  const BitstreamHeader& h = parsed.header;
  const double pixels = double(h.width) * h.height;
  std::string s;
  s += fmt::format("format:       hrvq bitstream v{}, {} bytes\n", h.version, file_size);
  s += fmt::format("image:        {}x{}, {} channel{}\n", h.width, h.height, h.channels, h.channels == 1 ? "" : "s");
  if (h.groups > 1)
    s += fmt::format("quantizer:    {}, {} groups x {} layers of {} codes ({} index maps), stride {}, grid {}x{}\n",
                     stream_quantizer_name(h.quantizer), h.groups, tree_depth(h), h.codes, h.layers, h.downsample,
                     h.grid_w, h.grid_h);
  else
    s += fmt::format("quantizer:    {}, {} layer{} of {} codes, stride {}, grid {}x{}\n",
                     stream_quantizer_name(h.quantizer), h.layers, h.layers == 1 ? "" : "s", h.codes, h.downsample,
                     h.grid_w, h.grid_h);
  s += fmt::format("model:        fingerprint {:016x}\n", h.model_fingerprint);
  s += fmt::format("coder:        {}\n", coder_name(h.coder));
  s += fmt::format("layers:       {} of {} complete{}\n", parsed.segments.size(), h.layers_present,
                   parsed.truncated ? " (file truncated)" : "");
  size_t cumulative = parsed.header_size;
  if (!parsed.depth.empty()) {
    std::vector<size_t> per_depth(h.layers_present + 1, 0);
    for (uint8_t v : parsed.depth.depth) ++per_depth[v];
    std::string hist;
    for (unsigned k = 1; k <= h.layers_present; ++k) hist += fmt::format("{}{}", k > 1 ? " " : "", per_depth[k]);
    s += fmt::format("depth map:    {}x{} tiles of {}x{} positions, {} bytes; tiles per depth 1..{}: {}\n",
                     parsed.depth.tiles_x, parsed.depth.tiles_y, h.depth_tile, h.depth_tile,
                     parsed.depth_segment_bytes, h.layers_present, hist);
    cumulative += kSegmentHeaderSize + parsed.depth_segment_bytes;
  }
  for (size_t i = 0; i < parsed.segments.size(); ++i) {
    const size_t bytes = parsed.segments[i].size();
    cumulative += kSegmentHeaderSize + bytes;
    const size_t coded = coded_positions(h, parsed.depth, static_cast<unsigned>(i));
    s += fmt::format("  layer {}:    {} bytes, {:.4f} bits/position; decodable prefix {:.4f} bpp\n", i + 1, bytes,
                     coded ? 8.0 * bytes / double(coded) : 0.0, 8.0 * cumulative / pixels);
  }
  s += fmt::format("total:        {:.4f} bits per pixel\n", 8.0 * file_size / pixels);
  return s;
}

}  // namespace hrvq
