// Model file (.hrvqm) reader and writer; the layout is format/model-file.md.
#include "hrvq/model_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"

namespace hrvq {

// Tensor bytes are copied verbatim between the file and memory, which is only right on
// a little-endian host.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "hrvq model files assume a little-endian host");

namespace {

enum MetaType : uint8_t { kMetaInt = 0, kMetaDouble = 1, kMetaString = 2 };

const char* meta_type_name(const MetaValue& v) {
  switch (v.index()) {
    case 0: return "an integer";
    case 1: return "a float";
    default: return "a string";
  }
}

// Names are printed by `hrvq info` and in error messages, so they are kept to one
// printable line.
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > kModelFileMaxNameLength) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out + "'";
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Element count with overflow reported as false; a zero dimension makes the tensor empty
// whatever the others say (they are still required to be non-negative by the caller).
bool checked_element_count(const std::vector<int64_t>& shape, uint64_t* out) {
  for (int64_t d : shape)
    if (d == 0) { *out = 0; return true; }
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

// ---- writing ------------------------------------------------------------------------

class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void pad_to(uint64_t offset) { buf_.resize(offset, 0); }
  void put_u64_at(size_t pos, uint64_t v) {
    for (int i = 0; i < 8; ++i) buf_[pos + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  size_t size() const { return buf_.size(); }
  std::vector<uint8_t>& buffer() { return buf_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

// ---- reading ------------------------------------------------------------------------

// Reads the header region [pos, end) of the file; running past `end` means the counts or
// lengths in the file disagree with its data offset.
class Reader {
 public:
  Reader(const uint8_t* data, size_t pos, size_t end, const std::string& name)
      : d_(data), pos_(pos), end_(end), name_(name) {}
  uint8_t u8(const char* what) { return static_cast<uint8_t>(le(1, what)); }
  uint16_t u16(const char* what) { return static_cast<uint16_t>(le(2, what)); }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(le(4, what)); }
  uint64_t u64(const char* what) { return le(8, what); }
  const uint8_t* bytes(size_t n, const char* what) {
    need(n, what);
    const uint8_t* p = d_ + pos_;
    pos_ += n;
    return p;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

 private:
  void need(size_t n, const char* what) {
    if (n > end_ - pos_)
      throw Error(fmt::format("{}: corrupt model file ({} at byte {} runs past the tensor data offset {})",
                              name_, what, pos_, end_));
  }
  uint64_t le(int n, const char* what) {
    need(static_cast<size_t>(n), what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(d_[pos_ + i]) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  const uint8_t* d_;
  size_t pos_;
  size_t end_;
  const std::string& name_;
};

uint64_t load_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

struct Parsed {
  ModelFile file;
  uint16_t major = 0;
  uint16_t minor = 0;
  uint64_t file_size = 0;
  uint32_t stored_crc = 0;
  bool checksum_ok = false;
};

Parsed parse(const uint8_t* data, size_t size, const std::string& name, bool verify_checksum) {
  // Identify the file first, so a foreign file is never called "truncated" or "corrupt".
  const size_t magic_bytes = std::min(size, sizeof(kModelFileMagic));
  if (size == 0 || std::memcmp(data, kModelFileMagic, magic_bytes) != 0)
    throw Error(fmt::format("{}: not an hrvq model file", name));
  if (size < kModelFileHeaderSize)
    throw Error(fmt::format("{}: truncated (file is {} bytes, the header alone is {})", name, size,
                            kModelFileHeaderSize));

  Parsed out;
  out.major = static_cast<uint16_t>(load_le(data + 8, 2));
  out.minor = static_cast<uint16_t>(load_le(data + 10, 2));
  if (out.major > kModelFileVersionMajor)
    throw Error(fmt::format("{}: model file version {}.{} is newer than this hrvq supports ({}.{})", name,
                            out.major, out.minor, kModelFileVersionMajor, kModelFileVersionMinor));
  if (out.major == 0) throw Error(fmt::format("{}: unsupported model file version 0.{}", name, out.minor));

  const uint32_t alignment = static_cast<uint32_t>(load_le(data + 12, 4));
  const uint64_t file_size = load_le(data + 16, 8);
  const uint32_t key_count = static_cast<uint32_t>(load_le(data + 24, 4));
  const uint32_t tensor_count = static_cast<uint32_t>(load_le(data + 28, 4));
  const uint64_t data_offset = load_le(data + 32, 8);

  if (file_size > size)
    throw Error(fmt::format("{}: truncated (file is {} bytes, its header says {})", name, size, file_size));
  if (file_size < size)
    throw Error(fmt::format("{}: {} unexpected bytes after the end of the model file", name, size - file_size));
  if (file_size < kModelFileHeaderSize + 4)
    throw Error(fmt::format("{}: corrupt model file (file size {} is too small)", name, file_size));
  out.file_size = file_size;

  const uint64_t checked_size = file_size - 4;
  out.stored_crc = static_cast<uint32_t>(load_le(data + checked_size, 4));
  out.checksum_ok = hrvq::crc32(data, checked_size) == out.stored_crc;
  if (verify_checksum && !out.checksum_ok)
    throw Error(fmt::format("{}: checksum mismatch (file is corrupt)", name));

  if (alignment < 8 || alignment > 4096 || (alignment & (alignment - 1)) != 0)
    throw Error(fmt::format("{}: corrupt model file (alignment {} is not a power of two in 8..4096)", name,
                            alignment));
  if (key_count > kModelFileMaxKeys)
    throw Error(fmt::format("{}: corrupt model file ({} metadata keys, at most {} allowed)", name, key_count,
                            kModelFileMaxKeys));
  if (tensor_count > kModelFileMaxTensors)
    throw Error(fmt::format("{}: corrupt model file ({} tensors, at most {} allowed)", name, tensor_count,
                            kModelFileMaxTensors));
  if (data_offset < kModelFileHeaderSize || data_offset > checked_size || data_offset % alignment != 0)
    throw Error(fmt::format("{}: corrupt model file (tensor data offset {} is outside the file or not a multiple "
                            "of the alignment {})",
                            name, data_offset, alignment));

  ModelFile& mf = out.file;
  mf.metadata.set_name(name);
  Reader r(data, kModelFileHeaderSize, static_cast<size_t>(data_offset), name);

  for (uint32_t i = 0; i < key_count; ++i) {
    const uint16_t len = r.u16("key length");
    if (len == 0 || len > kModelFileMaxNameLength)
      throw Error(fmt::format("{}: corrupt model file (metadata key {} has length {}, expected 1..{})", name, i,
                              len, kModelFileMaxNameLength));
    const uint8_t* kb = r.bytes(len, "key");
    std::string key(reinterpret_cast<const char*>(kb), len);
    if (!valid_name(key))
      throw Error(fmt::format("{}: corrupt model file (metadata key {} is not printable ASCII)", name, quoted(key)));
    if (mf.metadata.has(key))
      throw Error(fmt::format("{}: corrupt model file (duplicate metadata key {})", name, quoted(key)));
    const uint8_t type = r.u8("value type");
    switch (type) {
      case kMetaInt: mf.metadata.set_int(key, static_cast<int64_t>(r.u64("integer value"))); break;
      case kMetaDouble: {
        const uint64_t bits = r.u64("float value");
        double v;
        std::memcpy(&v, &bits, sizeof v);
        mf.metadata.set_double(key, v);
        break;
      }
      case kMetaString: {
        const uint32_t n = r.u32("string length");
        if (n > kModelFileMaxStringValue)
          throw Error(fmt::format("{}: corrupt model file (value of {} is {} bytes, at most {} allowed)", name,
                                  quoted(key), n, kModelFileMaxStringValue));
        const uint8_t* sb = r.bytes(n, "string value");
        mf.metadata.set_string(key, std::string(reinterpret_cast<const char*>(sb), n));
        break;
      }
      default:
        throw Error(fmt::format("{}: corrupt model file (metadata key {} has unknown value type {})", name,
                                quoted(key), type));
    }
  }

  struct Span { uint64_t begin, end; size_t index; };
  std::vector<Span> spans;
  const uint64_t data_size = checked_size - data_offset;
  for (uint32_t i = 0; i < tensor_count; ++i) {
    TensorEntry t;
    const uint16_t len = r.u16("tensor name length");
    if (len == 0 || len > kModelFileMaxNameLength)
      throw Error(fmt::format("{}: corrupt model file (tensor {} has name length {}, expected 1..{})", name, i, len,
                              kModelFileMaxNameLength));
    const uint8_t* nb = r.bytes(len, "tensor name");
    t.name.assign(reinterpret_cast<const char*>(nb), len);
    if (!valid_name(t.name))
      throw Error(fmt::format("{}: corrupt model file (tensor name {} is not printable ASCII)", name, quoted(t.name)));
    if (mf.find(t.name))
      throw Error(fmt::format("{}: corrupt model file (duplicate tensor {})", name, quoted(t.name)));
    const uint8_t code = r.u8("tensor dtype");
    if (!dtype_from_code(code, &t.dtype))
      throw Error(fmt::format("{}: corrupt model file (tensor {} has unknown dtype {})", name, quoted(t.name), code));
    const uint8_t rank = r.u8("tensor rank");
    if (rank > kModelFileMaxRank)
      throw Error(fmt::format("{}: corrupt model file (tensor {} has rank {}, at most {} allowed)", name,
                              quoted(t.name), rank, kModelFileMaxRank));
    for (uint8_t k = 0; k < rank; ++k) {
      const int64_t d = static_cast<int64_t>(r.u64("tensor dimension"));
      if (d < 0)
        throw Error(fmt::format("{}: corrupt model file (tensor {} has negative dimension {})", name,
                                quoted(t.name), d));
      t.shape.push_back(d);
    }
    const uint64_t offset = r.u64("tensor offset");
    uint64_t count = 0;
    uint64_t bytes = 0;
    if (!checked_element_count(t.shape, &count) ||
        __builtin_mul_overflow(count, static_cast<uint64_t>(dtype_size(t.dtype)), &bytes) || bytes > data_size)
      throw Error(fmt::format("{}: corrupt model file (tensor {} is larger than the file's data section)", name,
                              quoted(t.name)));
    if (offset % alignment != 0 || offset > data_size || bytes > data_size - offset)
      throw Error(fmt::format("{}: corrupt model file (tensor {} at data offset {} is misaligned or outside the "
                              "file)",
                              name, quoted(t.name), offset));
    spans.push_back({offset, offset + bytes, mf.tensors.size()});
    mf.tensors.push_back(std::move(t));
  }

  // Overlapping tensors would make two weights share bytes: never what a writer meant.
  std::vector<Span> sorted = spans;
  std::sort(sorted.begin(), sorted.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].begin < sorted[i - 1].end)
      throw Error(fmt::format("{}: corrupt model file (tensors {} and {} overlap)", name,
                              quoted(mf.tensors[sorted[i - 1].index].name), quoted(mf.tensors[sorted[i].index].name)));
  }
  for (const Span& s : spans) {
    const uint8_t* p = data + data_offset + s.begin;
    mf.tensors[s.index].data.assign(p, p + (s.end - s.begin));
  }
  return out;
}

template <class T>
TensorEntry make_tensor(std::string name, std::vector<int64_t> shape, DType dtype, const std::vector<T>& values) {
  TensorEntry t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  if (t.element_count() != values.size())
    throw Error(fmt::format("tensor {}: shape holds {} elements but {} values were given", quoted(t.name),
                            t.element_count(), values.size()));
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <class T>
std::vector<T> tensor_as(const TensorEntry& t, DType dtype, const std::string& file_name) {
  if (t.dtype != dtype)
    throw Error(fmt::format("{}: tensor {} is {}, expected {}", file_name, quoted(t.name), dtype_name(t.dtype),
                            dtype_name(dtype)));
  if (t.data.size() != t.element_count() * sizeof(T))
    throw Error(fmt::format("{}: tensor {} has {} bytes of data for its shape", file_name, quoted(t.name),
                            t.data.size()));
  std::vector<T> out(t.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

}  // namespace

// ---- dtypes and tensors -------------------------------------------------------------

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
    case DType::U64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I64: return "i64";
    case DType::U64: return "u64";
    case DType::I32: return "i32";
    case DType::U8: return "u8";
  }
  return "?";
}

bool dtype_from_code(uint8_t code, DType* out) {
  if (code > static_cast<uint8_t>(DType::U8)) return false;
  *out = static_cast<DType>(code);
  return true;
}

uint64_t TensorEntry::element_count() const {
  for (int64_t d : shape)
    if (d < 0) throw Error(fmt::format("tensor {}: negative dimension {}", quoted(name), d));
  if (shape.size() > kModelFileMaxRank)
    throw Error(fmt::format("tensor {}: rank {}, at most {} allowed", quoted(name), shape.size(), kModelFileMaxRank));
  uint64_t n = 0;
  if (!checked_element_count(shape, &n))
    throw Error(fmt::format("tensor {}: element count overflows 64 bits", quoted(name)));
  return n;
}

TensorEntry make_tensor_f32(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  return make_tensor(std::move(name), std::move(shape), DType::F32, values);
}
TensorEntry make_tensor_i64(std::string name, std::vector<int64_t> shape, const std::vector<int64_t>& values) {
  return make_tensor(std::move(name), std::move(shape), DType::I64, values);
}
TensorEntry make_tensor_u64(std::string name, std::vector<int64_t> shape, const std::vector<uint64_t>& values) {
  return make_tensor(std::move(name), std::move(shape), DType::U64, values);
}

std::vector<float> tensor_as_f32(const TensorEntry& t, const std::string& file_name) {
  return tensor_as<float>(t, DType::F32, file_name);
}
std::vector<int64_t> tensor_as_i64(const TensorEntry& t, const std::string& file_name) {
  return tensor_as<int64_t>(t, DType::I64, file_name);
}
std::vector<uint64_t> tensor_as_u64(const TensorEntry& t, const std::string& file_name) {
  return tensor_as<uint64_t>(t, DType::U64, file_name);
}

// ---- metadata -----------------------------------------------------------------------

void Metadata::set(const std::string& key, MetaValue value) {
  for (auto& e : entries_) {
    if (e.first == key) {
      e.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(key, std::move(value));
}

const MetaValue* Metadata::find(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.first == key) return &e.second;
  return nullptr;
}

int64_t Metadata::get_int(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) throw Error(fmt::format("{}: missing key {}", name_, quoted(key)));
  if (const int64_t* i = std::get_if<int64_t>(v)) return *i;
  throw Error(fmt::format("{}: key {} is {}, expected an integer", name_, quoted(key), meta_type_name(*v)));
}

double Metadata::get_double(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) throw Error(fmt::format("{}: missing key {}", name_, quoted(key)));
  if (const double* d = std::get_if<double>(v)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
  throw Error(fmt::format("{}: key {} is {}, expected a float", name_, quoted(key), meta_type_name(*v)));
}

const std::string& Metadata::get_string(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) throw Error(fmt::format("{}: missing key {}", name_, quoted(key)));
  if (const std::string* s = std::get_if<std::string>(v)) return *s;
  throw Error(fmt::format("{}: key {} is {}, expected a string", name_, quoted(key), meta_type_name(*v)));
}

int64_t Metadata::get_int_or(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
double Metadata::get_double_or(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}
std::string Metadata::get_string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

// ---- model file ---------------------------------------------------------------------

const TensorEntry* ModelFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorEntry& ModelFile::tensor(const std::string& name) const {
  if (const TensorEntry* t = find(name)) return *t;
  throw Error(fmt::format("{}: missing tensor {}", metadata.name(), quoted(name)));
}

void ModelFile::put(TensorEntry t) {
  for (auto& e : tensors) {
    if (e.name == t.name) {
      e = std::move(t);
      return;
    }
  }
  tensors.push_back(std::move(t));
}

std::vector<uint8_t> serialize_model_file(const ModelFile& model) {
  const std::string& name = model.metadata.name();
  const auto& entries = model.metadata.entries();
  if (entries.size() > kModelFileMaxKeys)
    throw Error(fmt::format("{}: {} metadata keys, at most {} allowed", name, entries.size(), kModelFileMaxKeys));
  if (model.tensors.size() > kModelFileMaxTensors)
    throw Error(fmt::format("{}: {} tensors, at most {} allowed", name, model.tensors.size(), kModelFileMaxTensors));

  Writer w;
  w.bytes(kModelFileMagic, sizeof kModelFileMagic);
  w.u16(kModelFileVersionMajor);
  w.u16(kModelFileVersionMinor);
  w.u32(kModelFileAlignment);
  const size_t file_size_pos = w.size();
  w.u64(0);
  w.u32(static_cast<uint32_t>(entries.size()));
  w.u32(static_cast<uint32_t>(model.tensors.size()));
  const size_t data_offset_pos = w.size();
  w.u64(0);

  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [key, value] = entries[i];
    if (!valid_name(key))
      throw Error(fmt::format("{}: metadata key {} must be 1..{} printable ASCII bytes", name, quoted(key),
                              kModelFileMaxNameLength));
    for (size_t j = 0; j < i; ++j)
      if (entries[j].first == key) throw Error(fmt::format("{}: duplicate metadata key {}", name, quoted(key)));
    w.u16(static_cast<uint16_t>(key.size()));
    w.bytes(key.data(), key.size());
    if (const int64_t* iv = std::get_if<int64_t>(&value)) {
      w.u8(kMetaInt);
      w.u64(static_cast<uint64_t>(*iv));
    } else if (const double* dv = std::get_if<double>(&value)) {
      uint64_t bits;
      std::memcpy(&bits, dv, sizeof bits);
      w.u8(kMetaDouble);
      w.u64(bits);
    } else {
      const std::string& s = std::get<std::string>(value);
      if (s.size() > kModelFileMaxStringValue)
        throw Error(fmt::format("{}: value of {} is {} bytes, at most {} allowed", name, quoted(key), s.size(),
                                kModelFileMaxStringValue));
      w.u8(kMetaString);
      w.u32(static_cast<uint32_t>(s.size()));
      w.bytes(s.data(), s.size());
    }
  }

  uint64_t next = 0;
  std::vector<uint64_t> offsets;
  for (const TensorEntry& t : model.tensors) {
    if (!valid_name(t.name))
      throw Error(fmt::format("{}: tensor name {} must be 1..{} printable ASCII bytes", name, quoted(t.name),
                              kModelFileMaxNameLength));
    if (model.find(t.name) != &t) throw Error(fmt::format("{}: duplicate tensor {}", name, quoted(t.name)));
    if (dtype_size(t.dtype) == 0) throw Error(fmt::format("{}: tensor {} has an invalid dtype", name, quoted(t.name)));
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(t.element_count(), static_cast<uint64_t>(dtype_size(t.dtype)), &bytes) ||
        bytes != t.data.size())
      throw Error(fmt::format("{}: tensor {} has {} bytes of data, its shape and dtype need {}", name,
                              quoted(t.name), t.data.size(), bytes));
    w.u16(static_cast<uint16_t>(t.name.size()));
    w.bytes(t.name.data(), t.name.size());
    w.u8(static_cast<uint8_t>(t.dtype));
    w.u8(static_cast<uint8_t>(t.shape.size()));
    for (int64_t d : t.shape) w.u64(static_cast<uint64_t>(d));
    next = align_up(next, kModelFileAlignment);
    offsets.push_back(next);
    w.u64(next);
    next += bytes;
  }

  const uint64_t data_offset = align_up(w.size(), kModelFileAlignment);
  const uint64_t file_size = data_offset + next + 4;
  if (file_size > kModelFileMaxSize)
    throw Error(fmt::format("{}: model file would be {} bytes, at most {} allowed", name, file_size,
                            kModelFileMaxSize));
  w.put_u64_at(data_offset_pos, data_offset);
  w.put_u64_at(file_size_pos, file_size);
  w.buffer().reserve(static_cast<size_t>(file_size));
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    w.pad_to(data_offset + offsets[i]);
    w.bytes(model.tensors[i].data.data(), model.tensors[i].data.size());
  }
  w.pad_to(data_offset + next);
  w.u32(hrvq::crc32(w.buffer().data(), w.size()));
  return std::move(w.buffer());
}

ModelFile parse_model_file(const uint8_t* data, size_t size, const std::string& name, bool verify_checksum) {
  return parse(data, size, name, verify_checksum).file;
}

LoadedModelFile open_model_bytes(const uint8_t* data, size_t size, const std::string& name, bool require_checksum) {
  Parsed p = parse(data, size, name, require_checksum);
  LoadedModelFile out;
  out.file = std::move(p.file);
  out.path = name;
  out.file_size = p.file_size;
  out.fingerprint = fingerprint64(data, size);
  out.checksum = p.stored_crc;
  out.checksum_ok = p.checksum_ok;
  out.version_major = p.major;
  out.version_minor = p.minor;
  return out;
}

LoadedModelFile open_model_file(const std::string& path, bool require_checksum) {
  const std::vector<uint8_t> bytes = read_file(path, kModelFileMaxSize);
  return open_model_bytes(bytes.data(), bytes.size(), path, require_checksum);
}

ModelFile load_model_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path, kModelFileMaxSize);
  return parse_model_file(bytes.data(), bytes.size(), path);
}

void save_model_file(const ModelFile& model, const std::string& path) {
  write_file_atomic(path, serialize_model_file(model));
}

}  // namespace hrvq
