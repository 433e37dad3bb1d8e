#include "hrvq/model_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/model_search.hpp"

namespace fs = std::filesystem;
using namespace hrvq;

namespace {

// Expects `fn` to throw hrvq::Error whose message contains `part`; returns the message.
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no hrvq::Error thrown";
  return {};
}

#define EXPECT_ERROR(expr, part)                                               \
  do {                                                                         \
    std::string msg_ = error_of([&] { (void)(expr); });                        \
    EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_;      \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "message: " << msg_;      \
  } while (0)

TensorEntry raw_tensor(std::string name, DType dtype, std::vector<int64_t> shape) {
  TensorEntry t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(t.element_count() * dtype_size(dtype));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(i * 37 + t.name.size());
  return t;
}

ModelFile small_model() {
  ModelFile m;
  m.metadata.set_string("general.architecture", "hrvqvae");
  m.metadata.set_int("hrvq.levels", 3);
  m.metadata.set_double("hrvq.beta", 0.25);
  m.tensors.push_back(make_tensor_f32("enc.weight", {2, 3}, {1, 2, 3, 4, 5, 6}));
  m.tensors.push_back(make_tensor_i64("codebook.counts", {4}, {0, -1, 7, std::numeric_limits<int64_t>::max()}));
  return m;
}

ModelFile all_dtypes_model() {
  ModelFile m;
  m.metadata.set_int("i.min", std::numeric_limits<int64_t>::min());
  m.metadata.set_int("i.max", std::numeric_limits<int64_t>::max());
  m.metadata.set_int("i.zero", 0);
  m.metadata.set_double("d.neg_zero", -0.0);
  m.metadata.set_double("d.inf", std::numeric_limits<double>::infinity());
  m.metadata.set_double("d.tiny", std::numeric_limits<double>::denorm_min());
  m.metadata.set_string("s.empty", "");
  m.metadata.set_string("s.binary", std::string("a\0b\n\xff", 5));
  m.metadata.set_string("s.utf8", "\xc3\xa9t\xc3\xa9");
  const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::I64, DType::U64, DType::I32, DType::U8};
  for (DType d : all) m.tensors.push_back(raw_tensor(std::string("t.") + dtype_name(d), d, {3, 5}));
  m.tensors.push_back(raw_tensor("scalar", DType::F32, {}));
  m.tensors.push_back(raw_tensor("empty", DType::I64, {4, 0, 2}));
  m.tensors.push_back(raw_tensor("rank8", DType::U8, {1, 2, 1, 2, 1, 2, 1, 3}));
  m.tensors.push_back(make_tensor_u64("u64.values", {2}, {0, std::numeric_limits<uint64_t>::max()}));
  return m;
}

uint64_t get_le(const std::vector<uint8_t>& b, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[pos + i]) << (8 * i);
  return v;
}

void set_le(std::vector<uint8_t>& b, size_t pos, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[pos + i] = static_cast<uint8_t>(v >> (8 * i));
}

void fix_crc(std::vector<uint8_t>& b) { set_le(b, b.size() - 4, hrvq::crc32(b.data(), b.size() - 4), 4); }

ModelFile parse(const std::vector<uint8_t>& b) { return parse_model_file(b.data(), b.size(), "m.hrvqm"); }

// Builds files by hand, independently of the library's writer, so the crafted-file tests
// also check the reader against the specification.
struct Crafted {
  uint16_t major = 1, minor = 0;
  uint32_t alignment = 64;
  uint32_t key_count = 0, tensor_count = 0;
  std::vector<uint8_t> body;        // metadata entries then tensor infos
  std::vector<uint8_t> data;        // tensor data section
  int64_t data_offset = -1;         // -1: body end rounded up to the alignment

  void u8(uint8_t v) { body.push_back(v); }
  void u16(uint16_t v) { for (int i = 0; i < 2; ++i) body.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) body.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void u64(uint64_t v) { for (int i = 0; i < 8; ++i) body.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void str16(const std::string& s) { u16(static_cast<uint16_t>(s.size())); body.insert(body.end(), s.begin(), s.end()); }
  void tensor(const std::string& name, uint8_t dtype, std::vector<int64_t> dims, uint64_t offset) {
    str16(name);
    u8(dtype);
    u8(static_cast<uint8_t>(dims.size()));
    for (int64_t d : dims) u64(static_cast<uint64_t>(d));
    u64(offset);
  }

  std::vector<uint8_t> bytes() const {
    const uint64_t end = 40 + body.size();
    const uint64_t off = data_offset >= 0 ? static_cast<uint64_t>(data_offset) : (end + 63) / 64 * 64;
    std::vector<uint8_t> b(std::max<uint64_t>(off, end) + data.size() + 4, 0);
    std::memcpy(b.data(), kModelFileMagic, 8);
    set_le(b, 8, major, 2);
    set_le(b, 10, minor, 2);
    set_le(b, 12, alignment, 4);
    set_le(b, 16, b.size(), 8);
    set_le(b, 24, key_count, 4);
    set_le(b, 28, tensor_count, 4);
    set_le(b, 32, off, 8);
    std::copy(body.begin(), body.end(), b.begin() + 40);
    std::copy(data.begin(), data.end(), b.begin() + static_cast<std::ptrdiff_t>(std::max<uint64_t>(off, end)));
    fix_crc(b);
    return b;
  }
};

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("hrvq-model-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

// ---- round trips --------------------------------------------------------------------

TEST(ModelFile, RoundTripAllDtypesAndMetadataTypes) {
  const ModelFile m = all_dtypes_model();
  const std::vector<uint8_t> bytes = serialize_model_file(m);
  const ModelFile back = parse(bytes);
  EXPECT_TRUE(back.metadata == m.metadata);
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].name, m.tensors[i].name);
    EXPECT_EQ(back.tensors[i].dtype, m.tensors[i].dtype);
    EXPECT_EQ(back.tensors[i].shape, m.tensors[i].shape);
    EXPECT_EQ(back.tensors[i].data, m.tensors[i].data);
  }
  EXPECT_EQ(back.tensor("scalar").element_count(), 1u);
  EXPECT_EQ(back.tensor("empty").data.size(), 0u);
  EXPECT_TRUE(std::signbit(back.metadata.get_double("d.neg_zero")));
  EXPECT_EQ(back.metadata.get_string("s.binary"), std::string("a\0b\n\xff", 5));
  EXPECT_EQ(tensor_as_u64(back.tensor("u64.values"))[1], std::numeric_limits<uint64_t>::max());
  // Writing what was read gives the same bytes: the layout is deterministic.
  EXPECT_EQ(serialize_model_file(back), bytes);
}

TEST(ModelFile, NanSurvivesBitExact) {
  ModelFile m;
  m.metadata.set_double("nan", std::numeric_limits<double>::quiet_NaN());
  const ModelFile back = parse(serialize_model_file(m));
  EXPECT_TRUE(std::isnan(back.metadata.get_double("nan")));
}

TEST(ModelFile, LayoutIsAlignedAndSelfDescribing) {
  const std::vector<uint8_t> b = serialize_model_file(small_model());
  EXPECT_EQ(std::memcmp(b.data(), "HRVQMDL\0", 8), 0);
  EXPECT_EQ(get_le(b, 8, 2), kModelFileVersionMajor);
  EXPECT_EQ(get_le(b, 12, 4), 64u);
  EXPECT_EQ(get_le(b, 16, 8), b.size());
  EXPECT_EQ(get_le(b, 24, 4), 3u);
  EXPECT_EQ(get_le(b, 28, 4), 2u);
  const uint64_t data_offset = get_le(b, 32, 8);
  EXPECT_EQ(data_offset % 64, 0u);
  // First tensor (f32 1..6) sits at the start of the data section.
  float first[6];
  std::memcpy(first, b.data() + data_offset, sizeof first);
  EXPECT_EQ(first[0], 1.0f);
  EXPECT_EQ(first[5], 6.0f);
  // Second tensor at the next multiple of 64.
  int64_t second;
  std::memcpy(&second, b.data() + data_offset + 64, 8);
  EXPECT_EQ(second, 0);
  EXPECT_EQ(get_le(b, b.size() - 4, 4), hrvq::crc32(b.data(), b.size() - 4));
}

// The second worked example of format/model-file.md, byte for byte.
TEST(ModelFile, MatchesSpecWorkedExample) {
  ModelFile m;
  m.metadata.set_int("a", 5);
  m.tensors.push_back(make_tensor_f32("w", {2}, {1.0f, 2.0f}));
  std::vector<uint8_t> expected = {
      0x48, 0x52, 0x56, 0x51, 0x4d, 0x44, 0x4c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
      0x8c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
      0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x61, 0x00, 0x05, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x77, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  expected.resize(128, 0);
  for (uint8_t v : {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x4f, 0x5f, 0xe6, 0x89}) expected.push_back(v);
  EXPECT_EQ(serialize_model_file(m), expected);
  const std::vector<uint8_t> empty = serialize_model_file(ModelFile{});
  ASSERT_EQ(empty.size(), 68u);
  EXPECT_EQ(get_le(empty, 64, 4), 0xa79110a6u);
}

TEST(ModelFile, EmptyModelRoundTrips) {
  const ModelFile back = parse(serialize_model_file(ModelFile{}));
  EXPECT_EQ(back.metadata.size(), 0u);
  EXPECT_TRUE(back.tensors.empty());
}

TEST(ModelFile, SaveLoadAndFingerprint) {
  TempDir dir;
  const std::string path = (dir.path / "m.hrvqm").string();
  save_model_file(small_model(), path);
  const ModelFile m = load_model_file(path);
  EXPECT_EQ(m.metadata.get_int("hrvq.levels"), 3);
  EXPECT_EQ(m.metadata.name(), path);
  const LoadedModelFile lf = open_model_file(path);
  const std::vector<uint8_t> bytes = read_file(path);
  EXPECT_EQ(lf.fingerprint, fingerprint64(bytes.data(), bytes.size()));
  EXPECT_TRUE(lf.checksum_ok);
  EXPECT_EQ(lf.file_size, bytes.size());
  EXPECT_EQ(lf.version_major, kModelFileVersionMajor);
  EXPECT_EQ(lf.path, path);
  EXPECT_ERROR(load_model_file((dir.path / "missing.hrvqm").string()), "missing.hrvqm");
}

// ---- accessors ----------------------------------------------------------------------

TEST(ModelFile, MissingAndMistypedKeys) {
  const ModelFile m = parse(serialize_model_file(small_model()));
  EXPECT_EQ(error_of([&] { m.metadata.get_int("nope"); }), "m.hrvqm: missing key 'nope'");
  EXPECT_EQ(error_of([&] { m.metadata.get_int("hrvq.beta"); }),
            "m.hrvqm: key 'hrvq.beta' is a float, expected an integer");
  EXPECT_EQ(error_of([&] { m.metadata.get_string("hrvq.levels"); }),
            "m.hrvqm: key 'hrvq.levels' is an integer, expected a string");
  EXPECT_EQ(error_of([&] { m.metadata.get_double("general.architecture"); }),
            "m.hrvqm: key 'general.architecture' is a string, expected a float");
  EXPECT_DOUBLE_EQ(m.metadata.get_double("hrvq.levels"), 3.0);
  EXPECT_TRUE(m.metadata.has("hrvq.beta"));
  EXPECT_FALSE(m.metadata.has("nope"));
  EXPECT_EQ(m.metadata.get_int_or("nope", 9), 9);
  EXPECT_EQ(m.metadata.get_double_or("nope", 0.5), 0.5);
  EXPECT_EQ(m.metadata.get_string_or("nope", "x"), "x");
  EXPECT_EQ(m.metadata.get_string_or("general.architecture", "x"), "hrvqvae");
  EXPECT_ERROR(m.metadata.get_int_or("hrvq.beta", 1), "expected an integer");
}

TEST(ModelFile, MissingTensor) {
  const ModelFile m = parse(serialize_model_file(small_model()));
  EXPECT_EQ(error_of([&] { m.tensor("dec.weight"); }), "m.hrvqm: missing tensor 'dec.weight'");
  EXPECT_EQ(m.find("dec.weight"), nullptr);
  EXPECT_EQ(m.tensor("enc.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_ERROR(tensor_as_i64(m.tensor("enc.weight"), "m.hrvqm"), "m.hrvqm: tensor 'enc.weight' is f32, expected i64");
}

TEST(ModelFile, SetReplacesInPlace) {
  Metadata md;
  md.set_int("a", 1);
  md.set_int("b", 2);
  md.set_string("a", "x");
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md.entries()[0].first, "a");
  EXPECT_EQ(md.get_string("a"), "x");
}

TEST(ModelFile, WriterRejectsInvalidModels) {
  ModelFile m = small_model();
  m.tensors[0].data.pop_back();
  EXPECT_ERROR(serialize_model_file(m), "'enc.weight' has 23 bytes of data, its shape and dtype need 24");

  m = small_model();
  m.tensors.push_back(m.tensors[0]);
  EXPECT_ERROR(serialize_model_file(m), "duplicate tensor 'enc.weight'");

  m = small_model();
  m.metadata.set_int("bad\nkey", 1);
  EXPECT_ERROR(serialize_model_file(m), "printable ASCII");

  m = small_model();
  m.tensors[0].name = std::string(257, 'a');
  EXPECT_ERROR(serialize_model_file(m), "printable ASCII");

  m = small_model();
  m.tensors[0].shape = {-2, -3};
  EXPECT_ERROR(serialize_model_file(m), "negative dimension");

  m = small_model();
  m.tensors[0].shape = std::vector<int64_t>(9, 1);
  EXPECT_ERROR(serialize_model_file(m), "rank 9");

  EXPECT_ERROR(make_tensor_f32("x", {2, 2}, {1, 2, 3}), "shape holds 4 elements but 3 values");
}

// ---- damaged and hostile input ------------------------------------------------------

TEST(ModelFile, EveryPrefixIsRejectedAsTruncated) {
  const std::vector<uint8_t> b = serialize_model_file(small_model());
  for (size_t n = 0; n < b.size(); ++n) {
    const std::string msg = error_of([&] { parse_model_file(b.data(), n, "m.hrvqm"); });
    if (n == 0) {
      EXPECT_EQ(msg, "m.hrvqm: not an hrvq model file");
    } else {
      EXPECT_EQ(msg.rfind("m.hrvqm: truncated (", 0), 0u) << "prefix " << n << ": " << msg;
    }
  }
}

TEST(ModelFile, TrailingBytesAreRejected) {
  std::vector<uint8_t> b = serialize_model_file(small_model());
  b.push_back(0);
  EXPECT_EQ(error_of([&] { parse(b); }), "m.hrvqm: 1 unexpected bytes after the end of the model file");
}

TEST(ModelFile, EveryFlippedBitIsRejected) {
  const std::vector<uint8_t> good = serialize_model_file(small_model());
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> b = good;
      b[i] ^= static_cast<uint8_t>(1u << bit);
      const std::string msg = error_of([&] { parse(b); });
      ASSERT_EQ(msg.rfind("m.hrvqm: ", 0), 0u) << "byte " << i << " bit " << bit << ": " << msg;
      // Past the fields that identify the file and give its size, the checksum is what
      // catches the damage.
      if (i >= 24) EXPECT_EQ(msg, "m.hrvqm: checksum mismatch (file is corrupt)") << "byte " << i << " bit " << bit;
    }
  }
}

TEST(ModelFile, DamagedChecksumCanBeInspected) {
  std::vector<uint8_t> b = serialize_model_file(small_model());
  b[b.size() - 10] ^= 1;
  EXPECT_ERROR(open_model_bytes(b.data(), b.size(), "m.hrvqm"), "checksum mismatch");
  const LoadedModelFile lf = open_model_bytes(b.data(), b.size(), "m.hrvqm", /*require_checksum=*/false);
  EXPECT_FALSE(lf.checksum_ok);
  EXPECT_EQ(lf.file.metadata.get_int("hrvq.levels"), 3);
  EXPECT_EQ(lf.fingerprint, fingerprint64(b.data(), b.size()));
}

TEST(ModelFile, ForeignFilesAreNotModels) {
  const std::vector<std::string> foreign = {
      std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "GGUF\x03\0\0\0", "HRVQMDX\0 and more bytes than a header",
      "hello", std::string(100, '\0'), "HRVQ\x01"};
  for (const std::string& f : foreign) {
    EXPECT_EQ(error_of([&] { parse_model_file(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "x.bin"); }),
              "x.bin: not an hrvq model file");
  }
}

TEST(ModelFile, NewerMajorVersionIsRejected) {
  std::vector<uint8_t> b = serialize_model_file(small_model());
  set_le(b, 8, 2, 2);
  set_le(b, 10, 3, 2);
  fix_crc(b);
  EXPECT_EQ(error_of([&] { parse(b); }), "m.hrvqm: model file version 2.3 is newer than this hrvq supports (1.0)");
  // The version is checked before the checksum: a future file may checksum differently.
  b[50] ^= 0xff;
  EXPECT_ERROR(parse(b), "is newer than this hrvq supports");
  set_le(b, 8, 0, 2);
  EXPECT_ERROR(parse(b), "unsupported model file version 0.3");
}

TEST(ModelFile, NewerMinorVersionIsAccepted) {
  std::vector<uint8_t> b = serialize_model_file(small_model());
  set_le(b, 10, 7, 2);
  fix_crc(b);
  const LoadedModelFile lf = open_model_bytes(b.data(), b.size(), "m.hrvqm");
  EXPECT_EQ(lf.version_minor, 7);
  EXPECT_EQ(lf.file.metadata.get_int("hrvq.levels"), 3);
}

TEST(ModelFile, CraftedHeaderFieldsAreBounded) {
  {
    Crafted c;
    c.key_count = 4097;
    EXPECT_ERROR(parse(c.bytes()), "4097 metadata keys, at most 4096");
  }
  {
    Crafted c;
    c.key_count = 0xffffffffu;
    EXPECT_ERROR(parse(c.bytes()), "metadata keys, at most 4096");
  }
  {
    Crafted c;
    c.tensor_count = 0x7fffffffu;
    EXPECT_ERROR(parse(c.bytes()), "tensors, at most 4096");
  }
  {
    // A count within the limit but with no entries behind it.
    Crafted c;
    c.key_count = 4096;
    c.alignment = 8;
    c.data_offset = 40;
    EXPECT_ERROR(parse(c.bytes()), "runs past the tensor data offset");
  }
  {
    Crafted c;
    c.tensor_count = 4096;
    c.alignment = 8;
    c.data_offset = 40;
    EXPECT_ERROR(parse(c.bytes()), "runs past the tensor data offset");
  }
  for (uint32_t a : {0u, 3u, 4u, 48u, 8192u, 0x80000000u}) {
    Crafted c;
    c.alignment = a;
    EXPECT_ERROR(parse(c.bytes()), "alignment");
  }
  {
    Crafted c;
    c.data_offset = 72;  // multiple of 8, not of 64
    EXPECT_ERROR(parse(c.bytes()), "tensor data offset 72");
  }
  {
    Crafted c;
    c.alignment = 8;
    c.data_offset = 40;  // legal: 8-aligned, right after the header
    EXPECT_NO_THROW(parse(c.bytes()));
  }
  {
    std::vector<uint8_t> b = Crafted{}.bytes();
    set_le(b, 32, 1ull << 62, 8);
    fix_crc(b);
    EXPECT_ERROR(parse(b), "outside the file");
  }
  {
    std::vector<uint8_t> b = Crafted{}.bytes();
    set_le(b, 16, ~0ull, 8);
    EXPECT_ERROR(parse(b), "truncated (file is 68 bytes, its header says 18446744073709551615)");
  }
}

TEST(ModelFile, CraftedMetadataIsBounded) {
  {
    Crafted c;
    c.key_count = 1;
    c.str16("k");
    c.u8(2);
    c.u32(0xffffffffu);
    EXPECT_ERROR(parse(c.bytes()), "value of 'k' is 4294967295 bytes, at most 1048576");
  }
  {
    Crafted c;
    c.key_count = 1;
    c.str16("k");
    c.u8(2);
    c.u32(1000);  // within the limit, but past the end of the header region
    EXPECT_ERROR(parse(c.bytes()), "string value at byte");
  }
  {
    Crafted c;
    c.key_count = 1;
    c.str16("k");
    c.u8(3);
    c.u64(0);
    EXPECT_ERROR(parse(c.bytes()), "unknown value type 3");
  }
  {
    Crafted c;
    c.key_count = 1;
    c.u16(0);
    EXPECT_ERROR(parse(c.bytes()), "has length 0");
  }
  {
    Crafted c;
    c.key_count = 1;
    c.u16(0xffff);
    EXPECT_ERROR(parse(c.bytes()), "has length 65535");
  }
  {
    Crafted c;
    c.key_count = 1;
    c.str16("a\tb");
    c.u8(0);
    c.u64(0);
    EXPECT_ERROR(parse(c.bytes()), "'a\\x09b' is not printable ASCII");
  }
  {
    Crafted c;
    c.key_count = 2;
    for (int i = 0; i < 2; ++i) {
      c.str16("k");
      c.u8(0);
      c.u64(0);
    }
    EXPECT_ERROR(parse(c.bytes()), "duplicate metadata key 'k'");
  }
}

TEST(ModelFile, CraftedTensorsAreBounded) {
  auto one_tensor = [](uint8_t dtype, std::vector<int64_t> dims, uint64_t offset, size_t data_bytes = 64) {
    Crafted c;
    c.tensor_count = 1;
    c.tensor("t", dtype, std::move(dims), offset);
    c.data.resize(data_bytes);
    return c.bytes();
  };
  EXPECT_NO_THROW(parse(one_tensor(0, {4, 4}, 0)));
  EXPECT_ERROR(parse(one_tensor(0, {4, 5}, 0)), "tensor 't' is larger than the file's data section");
  EXPECT_ERROR(parse(one_tensor(0, {1ll << 62, 1ll << 62}, 0)), "larger than the file's data section");
  EXPECT_ERROR(parse(one_tensor(3, {1ll << 61}, 0)), "larger than the file's data section");
  EXPECT_ERROR(parse(one_tensor(6, {256, 256, 256, 256, 256, 256, 256, 256}, 0)), "larger than");
  EXPECT_ERROR(parse(one_tensor(0, {std::numeric_limits<int64_t>::max(), 2}, 0)), "larger than");
  EXPECT_ERROR(parse(one_tensor(0, {4, -1}, 0)), "negative dimension -1");
  EXPECT_ERROR(parse(one_tensor(0, {0, -1}, 0)), "negative dimension -1");
  EXPECT_ERROR(parse(one_tensor(0, std::vector<int64_t>(9, 1), 0)), "rank 9, at most 8");
  EXPECT_ERROR(parse(one_tensor(7, {1}, 0)), "unknown dtype 7");
  EXPECT_ERROR(parse(one_tensor(0, {1}, 4, 128)), "data offset 4 is misaligned");
  EXPECT_ERROR(parse(one_tensor(0, {1}, 64, 64)), "data offset 64 is misaligned or outside");
  EXPECT_ERROR(parse(one_tensor(0, {1}, ~0ull & ~63ull, 64)), "misaligned or outside");
  // Empty tensors may sit at the very end of the data section.
  EXPECT_NO_THROW(parse(one_tensor(0, {0, 1ll << 62}, 64, 64)));
  {
    Crafted c;
    c.tensor_count = 2;
    c.tensor("a", 0, {32}, 0);
    c.tensor("b", 0, {1}, 64);
    c.data.resize(192);
    EXPECT_ERROR(parse(c.bytes()), "tensors 'a' and 'b' overlap");
  }
  {
    Crafted c;
    c.tensor_count = 2;
    c.tensor("a", 0, {16}, 64);
    c.tensor("b", 0, {16}, 0);
    c.data.resize(128);
    EXPECT_NO_THROW(parse(c.bytes()));
  }
  {
    Crafted c;
    c.tensor_count = 2;
    c.tensor("a", 0, {1}, 0);
    c.tensor("a", 0, {1}, 64);
    c.data.resize(128);
    EXPECT_ERROR(parse(c.bytes()), "duplicate tensor 'a'");
  }
  {
    Crafted c;
    c.tensor_count = 1;
    c.tensor(std::string(257, 'n'), 0, {1}, 0);
    c.data.resize(64);
    EXPECT_ERROR(parse(c.bytes()), "name length 257");
  }
}

// ---- fuzz seed corpus ---------------------------------------------------------------

namespace {
std::vector<std::pair<std::string, std::vector<uint8_t>>> seed_files() {
  ModelFile tiny;
  tiny.metadata.set_string("general.architecture", "hrvqvae");
  tiny.tensors.push_back(make_tensor_f32("w", {2}, {0.5f, -1.0f}));
  ModelFile all = all_dtypes_model();
  all.tensors.resize(4);  // keep the seed small
  return {{"empty.hrvqm", serialize_model_file(ModelFile{})},
          {"tiny.hrvqm", serialize_model_file(tiny)},
          {"small.hrvqm", serialize_model_file(small_model())},
          {"dtypes.hrvqm", serialize_model_file(all)}};
}
}  // namespace

// The seeds in testdata/fuzz/model_file/ are what this writer produces; run with
// HRVQ_UPDATE_SEEDS=1 to rewrite them after a format change.
TEST(ModelFileSeeds, CorpusIsCurrent) {
  const fs::path dir = fs::path(HRVQ_TESTDATA) / "fuzz" / "model_file";
  const bool update = std::getenv("HRVQ_UPDATE_SEEDS") != nullptr;
  for (const auto& [name, bytes] : seed_files()) {
    const std::string path = (dir / name).string();
    if (update) {
      fs::create_directories(dir);
      write_file_atomic(path, bytes);
    }
    ASSERT_TRUE(file_exists(path)) << path << " missing; run with HRVQ_UPDATE_SEEDS=1";
    EXPECT_EQ(read_file(path), bytes) << path << " is stale; run with HRVQ_UPDATE_SEEDS=1";
    EXPECT_NO_THROW(load_model_file(path));
  }
}

// ---- model search path --------------------------------------------------------------

namespace {
struct EnvGuard {
  std::string name;
  std::string old;
  bool had;
  EnvGuard(const std::string& n, const std::string& value) : name(n) {
    const char* o = std::getenv(n.c_str());
    had = o != nullptr;
    if (had) old = o;
    ::setenv(n.c_str(), value.c_str(), 1);
  }
  ~EnvGuard() {
    if (had) ::setenv(name.c_str(), old.c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};
}  // namespace

TEST(ModelFileSearch, EnvironmentFoldersComeFirst) {
  TempDir a, b;
  save_model_file(small_model(), (b.path / "photo.hrvqm").string());
  save_model_file(small_model(), (b.path / "other.hrvqm").string());
  save_model_file(small_model(), (a.path / "zzz.hrvqm").string());
  std::ofstream(a.path / "notes.txt") << "not a model";
  // Empty entries and a repeated folder are ignored.
  EnvGuard env("HRVQ_MODEL_PATH", a.path.string() + "::" + b.path.string() + ":" + b.path.string() + "/");
  const std::vector<std::string> dirs = model_search_dirs();
  ASSERT_GE(dirs.size(), 2u);
  EXPECT_EQ(dirs[0], a.path.string());
  EXPECT_EQ(dirs[1], b.path.string());
  EXPECT_EQ(std::count(dirs.begin(), dirs.end(), b.path.string() + "/"), 0);
  EXPECT_EQ(default_model_path(), (b.path / "photo.hrvqm").string());

  const std::vector<std::string> all = bundled_model_paths();
  ASSERT_GE(all.size(), 3u);
  EXPECT_EQ(all[0], (a.path / "zzz.hrvqm").string());
  EXPECT_EQ(all[1], (b.path / "other.hrvqm").string());
  EXPECT_EQ(all[2], (b.path / "photo.hrvqm").string());
}

TEST(ModelFileSearch, MissingModelNamesTheFoldersSearched) {
  TempDir a;
  EnvGuard env("HRVQ_MODEL_PATH", a.path.string());
  const std::string msg = error_of([] { find_model("no-such-model.hrvqm"); });
  EXPECT_EQ(msg.rfind("no-such-model.hrvqm: no such model in the model search path (", 0), 0u) << msg;
  EXPECT_NE(msg.find(a.path.string()), std::string::npos) << msg;
}
