// The model file (.hrvqm): one self-describing, versioned, checksummed file holding a
// trained model, readable without Python or LibTorch. A typed key-value header carries
// the configuration; named tensors carry the weights as raw little-endian bytes, each
// aligned in the file so it could be mapped directly. The byte layout, the limits a
// reader enforces and the keys hrvq uses are specified in format/model-file.md.
//
// This layer knows nothing about torch: the torch side converts TensorEntry to and from
// torch tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace hrvq {

// Element types. The numeric codes are the on-disk values and never change.
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I64 = 3, U64 = 4, I32 = 5, U8 = 6 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);   // "f32", "f16", "bf16", "i64", "u64", "i32", "u8"
bool dtype_from_code(uint8_t code, DType* out);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;          // empty shape: a scalar (one element)
  std::vector<uint8_t> data;           // element_count() * dtype_size(dtype) bytes, little-endian

  // Product of the dimensions; throws hrvq::Error on negative dimensions or overflow.
  uint64_t element_count() const;
};

// Builds a tensor from host values; the host must be little-endian (checked at compile
// time in the implementation), so this is a plain copy.
TensorEntry make_tensor_f32(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);
TensorEntry make_tensor_i64(std::string name, std::vector<int64_t> shape, const std::vector<int64_t>& values);
TensorEntry make_tensor_u64(std::string name, std::vector<int64_t> shape, const std::vector<uint64_t>& values);

// Reads a tensor's elements back; throws if the dtype differs.
std::vector<float> tensor_as_f32(const TensorEntry& t, const std::string& file_name = "model");
std::vector<int64_t> tensor_as_i64(const TensorEntry& t, const std::string& file_name = "model");
std::vector<uint64_t> tensor_as_u64(const TensorEntry& t, const std::string& file_name = "model");

// Typed configuration values, kept in insertion order (which is also file order).
using MetaValue = std::variant<int64_t, double, std::string>;

class Metadata {
 public:
  // `name` prefixes error messages: normally the model file's path.
  Metadata() = default;
  explicit Metadata(std::string name) : name_(std::move(name)) {}
  void set_name(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }

  // Setting an existing key replaces its value in place (its position is kept).
  void set_int(const std::string& key, int64_t value) { set(key, MetaValue(value)); }
  void set_double(const std::string& key, double value) { set(key, MetaValue(value)); }
  void set_string(const std::string& key, std::string value) { set(key, MetaValue(std::move(value))); }
  void set(const std::string& key, MetaValue value);

  bool has(const std::string& key) const { return find(key) != nullptr; }
  const MetaValue* find(const std::string& key) const;

  // Throw hrvq::Error "NAME: missing key 'KEY'" or
  // "NAME: key 'KEY' is a string, expected an integer". get_double also accepts an
  // integer value, since "1" and "1.0" mean the same hyper-parameter.
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;

  // A missing key gives the default; a key of the wrong type is still an error.
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_double_or(const std::string& key, double fallback) const;
  std::string get_string_or(const std::string& key, const std::string& fallback) const;

  const std::vector<std::pair<std::string, MetaValue>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool operator==(const Metadata& other) const { return entries_ == other.entries_; }

 private:
  std::string name_ = "model";
  std::vector<std::pair<std::string, MetaValue>> entries_;
};

struct ModelFile {
  Metadata metadata;
  std::vector<TensorEntry> tensors;

  // Throws hrvq::Error "NAME: missing tensor 'X'" (NAME is metadata.name()).
  const TensorEntry& tensor(const std::string& name) const;
  const TensorEntry* find(const std::string& name) const;
  // Appends, or replaces a tensor of the same name.
  void put(TensorEntry t);
};

// Format constants (format/model-file.md).
constexpr char kModelFileMagic[8] = {'H', 'R', 'V', 'Q', 'M', 'D', 'L', '\0'};
constexpr uint16_t kModelFileVersionMajor = 1;
constexpr uint16_t kModelFileVersionMinor = 0;
constexpr uint32_t kModelFileAlignment = 64;          // what the writer uses
constexpr size_t kModelFileHeaderSize = 40;
constexpr uint32_t kModelFileMaxKeys = 4096;
constexpr uint32_t kModelFileMaxTensors = 4096;
constexpr size_t kModelFileMaxNameLength = 256;       // keys and tensor names, bytes
constexpr size_t kModelFileMaxStringValue = 1u << 20; // bytes
constexpr unsigned kModelFileMaxRank = 8;
constexpr uint64_t kModelFileMaxSize = 2ull << 30;    // what load_model_file reads

// Throws hrvq::Error if the model violates a limit (bad or duplicate names, rank,
// data size not matching shape and dtype, ...): the writer never produces a file its
// own reader would reject.
std::vector<uint8_t> serialize_model_file(const ModelFile& model);

// Parses untrusted bytes; `name` prefixes every error. With verify_checksum == false a
// checksum mismatch is not an error (for `hrvq info` on a damaged file); every
// structural check still applies, so the result is always well-formed.
ModelFile parse_model_file(const uint8_t* data, size_t size, const std::string& name,
                           bool verify_checksum = true);

// A model file as read from disk, with what identifies it.
struct LoadedModelFile {
  ModelFile file;
  std::string path;
  uint64_t file_size = 0;
  uint64_t fingerprint = 0;        // fingerprint64 of the whole file: the model's identity in bitstreams
  uint32_t checksum = 0;           // the CRC-32 stored in the file
  bool checksum_ok = false;
  uint16_t version_major = 0;
  uint16_t version_minor = 0;
};

// Reads (at most kModelFileMaxSize bytes) and parses. With require_checksum == false a
// checksum mismatch only sets checksum_ok = false.
LoadedModelFile open_model_file(const std::string& path, bool require_checksum = true);
// The same from bytes already in memory.
LoadedModelFile open_model_bytes(const uint8_t* data, size_t size, const std::string& name,
                                 bool require_checksum = true);

ModelFile load_model_file(const std::string& path);
// Atomic: a failure never leaves a partial file at `path`.
void save_model_file(const ModelFile& model, const std::string& path);

}  // namespace hrvq
