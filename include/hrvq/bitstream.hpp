// The .hrvq container: a fixed header, then one length-prefixed, CRC-protected segment
// per quantization layer, coarsest first. format/bitstream.md is the specification;
// this is its reference reader and writer. A file cut after any segment still decodes
// (to fewer layers): that is the progressive mode.
#pragma once
#include "hrvq/image.hpp"
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hrvq/depth_map.hpp"
#include "hrvq/entropy_model.hpp"

namespace hrvq {

// The bitstream's quantizer field. Fixed wire values, independent of the trainer's enums.
enum class StreamQuantizer : uint8_t { Hr = 0, Vq = 1, Rvq = 2, Vq2 = 3 };
const char* stream_quantizer_name(StreamQuantizer q);  // "hr", "vq", "rvq", "vq2"

// Version 2 added the channel-group count, version 3 the depth map (per-tile layer
// counts). Older files still decode. An encoder writes version 3 only for a file with a
// depth map, so every uniform-depth file stays readable by version-2 decoders.
constexpr uint8_t kBitstreamVersion = 3;
constexpr uint8_t kBitstreamUniformVersion = 2;
constexpr uint8_t kBitstreamOldestVersion = 1;
constexpr size_t kBitstreamHeaderSize = 44;     // what a version-2 encoder writes
constexpr size_t kBitstreamV1HeaderSize = 40;
constexpr size_t kBitstreamMaxHeaderSize = 1024;
constexpr size_t kSegmentHeaderSize = 8;        // length + CRC
constexpr uint32_t kMaxImageSide = 65535;
// kMaxImagePixels (image.hpp) bounds width * height here too: one limit for files and streams.
constexpr unsigned kMaxLayers = 64;     // index maps (n x G)
constexpr unsigned kMaxTreeDepth = 16;  // n
constexpr unsigned kMaxGroups = 16;     // G

struct BitstreamHeader {
  uint64_t model_fingerprint = 0;  // fingerprint64 of the model file's bytes
  uint32_t width = 0;              // image size in pixels, 1..65535 each
  uint32_t height = 0;
  uint8_t channels = 3;            // 1 or 3
  uint8_t downsample = 4;          // latent grid stride d: 1, 2, 4, ..., 64
  uint16_t grid_w = 0;             // latent grid of the finest index map
  uint16_t grid_h = 0;
  StreamQuantizer quantizer = StreamQuantizer::Hr;
  Coder coder = Coder::Rans;
  uint16_t codes = 0;              // m (K for vq / vq2), 2..4096
  uint8_t layers = 0;              // index maps the model produces: n x G
  uint8_t layers_present = 0;      // k, 1..layers, segments the encoder wrote
  uint8_t groups = 1;              // G channel groups, each its own tree (hr, rvq)
  uint8_t depth_tile = 0;          // version 3: side of a depth-map tile in latent positions; 0 = none
  uint8_t version = kBitstreamVersion;  // as read; the writer always writes the current one
};
// Tree depth n of a header: layers / groups.
inline unsigned tree_depth(const BitstreamHeader& h) { return h.groups ? h.layers / h.groups : 0; }

// Throws hrvq::Error (prefixed by `name` when non-empty) unless the header is one an
// encoder may write: ranges, grid consistent with size and stride, layer
// count fitting the quantizer.
void validate_header(const BitstreamHeader& h, const std::string& name = "");

// The grid a header implies for an image: ceil(side / g) * (g / d) where g is the side
// multiple the model needs (d, or 2d for vq2's extra top level).
uint16_t expected_grid_side(uint32_t image_side, uint8_t downsample, StreamQuantizer q);

// Positions of layer `layer` (0-based): grid_w * grid_h, except vq2's top level
// (layer 0), which is half the grid in each direction.
size_t layer_positions(const BitstreamHeader& h, unsigned layer);
// Contexts an HR model has at `layer` (0-based): m^layer.
uint64_t hr_layer_contexts(uint32_t m, unsigned layer);
// Positions of `layer` that hold a code: layer_positions, or with a depth map those of
// the tiles deeper than `layer`.
size_t coded_positions(const BitstreamHeader& h, const DepthMap& depth, unsigned layer);
// Largest segment payload a valid file can carry for `layer`.
size_t max_segment_size(const BitstreamHeader& h, unsigned layer);

// Serializes a header (validated) and its segments; segments.size() must equal
// layers_present and each must fit its coder's bounds for its coded positions. With a
// non-empty depth map (h.depth_tile == depth.tile), a version-3 file with the depth
// segment; otherwise a version-2 file.
std::vector<uint8_t> write_bitstream(const BitstreamHeader& h, const std::vector<std::vector<uint8_t>>& segments,
                                     const DepthMap& depth = {});

struct ParsedBitstream {
  BitstreamHeader header;
  // The complete segments, layer 0 first; fewer than layers_present when truncated.
  std::vector<std::vector<uint8_t>> segments;
  bool truncated = false;
  size_t header_size = 0;               // bytes of the container header as stored
  std::vector<size_t> segment_offsets;  // file offset of each complete segment's payload
  DepthMap depth;                       // version 3 with depth_tile != 0; empty otherwise
  size_t depth_segment_bytes = 0;       // payload bytes of the depth segment
};

// Parses a whole file. A file that ends inside segment j+1 (or its length/CRC field)
// yields j complete segments and truncated = true; one that ends before any complete
// segment, a damaged header, a CRC mismatch, an oversized length or bytes after the
// last segment throw hrvq::Error("NAME: ..."), the CRC case naming the layer
// ("layer 2 segment is corrupt (CRC mismatch)", layers counted from 1).
ParsedBitstream parse_bitstream(const uint8_t* data, size_t size, const std::string& name);
inline ParsedBitstream parse_bitstream(const std::vector<uint8_t>& bytes, const std::string& name) {
  return parse_bitstream(bytes.data(), bytes.size(), name);
}

// Multi-line human description for `hrvq info FILE.hrvq`: header fields, each layer's
// segment size, bits per pixel of the whole file and cumulatively per layer.
std::string describe_bitstream(const ParsedBitstream& parsed, size_t file_size);

}  // namespace hrvq
