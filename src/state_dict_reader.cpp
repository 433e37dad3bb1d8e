#include "state_dict_reader.hpp"

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hrvq/crc32.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"

namespace hrvq {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) { throw Error(name + ": " + what); }

uint64_t le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// ---------------------------------------------------------------------------------
// Zip container. torch.save writes every record uncompressed ("stored") with sizes in
// the central directory (the local headers carry a data descriptor flag and zero
// sizes), so only the central directory is trusted for sizes and only stored entries
// are accepted.

struct ZipRecord {
  uint64_t offset = 0;  // of the data
  uint64_t size = 0;
  uint32_t crc = 0;
};

std::map<std::string, ZipRecord> read_zip_directory(const uint8_t* d, size_t n, const std::string& name) {
  const std::string what = "corrupt zip archive";
  if (n < 22) fail(name, "truncated zip archive");
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  size_t eocd = std::string::npos;
  const size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
  for (size_t p = n - 22 + 1; p-- > lowest;) {
    if (le(d + p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::string::npos) fail(name, "truncated zip archive (end of central directory not found)");
  uint64_t entries = le(d + eocd + 10, 2);
  uint64_t cd_size = le(d + eocd + 12, 4);
  uint64_t cd_offset = le(d + eocd + 16, 4);
  if (eocd >= 20 && le(d + eocd - 20, 4) == 0x07064b50) {
    const uint64_t z64 = le(d + eocd - 20 + 8, 8);
    if (z64 > n || n - z64 < 56 || le(d + z64, 4) != 0x06064b50) fail(name, what + " (bad zip64 end record)");
    entries = le(d + z64 + 32, 8);
    cd_size = le(d + z64 + 40, 8);
    cd_offset = le(d + z64 + 48, 8);
  }
  if (cd_offset > n || cd_size > n - cd_offset) fail(name, "truncated zip archive (central directory out of bounds)");
  if (entries > cd_size / 46) fail(name, what + " (entry count exceeds the central directory)");

  std::map<std::string, ZipRecord> records;
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t e = 0; e < entries; ++e) {
    if (cd_end - p < 46 || le(d + p, 4) != 0x02014b50) fail(name, what + " (bad central directory entry)");
    const uint64_t flags = le(d + p + 8, 2), method = le(d + p + 10, 2);
    const uint32_t crc = static_cast<uint32_t>(le(d + p + 16, 4));
    uint64_t csize = le(d + p + 20, 4), usize = le(d + p + 24, 4);
    const uint64_t nlen = le(d + p + 28, 2), elen = le(d + p + 30, 2), clen = le(d + p + 32, 2);
    uint64_t local = le(d + p + 42, 4);
    if (cd_end - p - 46 < nlen + elen + clen) fail(name, what + " (central directory entry out of bounds)");
    std::string entry(reinterpret_cast<const char*>(d + p + 46), nlen);
    // Zip64 extra field: the 64-bit values replace, in order, those stored as 0xFFFFFFFF.
    for (uint64_t x = p + 46 + nlen, xe = x + elen; xe - x >= 4;) {
      const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
      if (xe - x - 4 < len) fail(name, what + " (bad extra field)");
      if (id == 1) {
        uint64_t q = x + 4;
        for (uint64_t* v : {&usize, &csize, &local}) {
          if (*v != 0xFFFFFFFFu) continue;
          if (x + 4 + len - q < 8) fail(name, what + " (short zip64 field)");
          *v = le(d + q, 8);
          q += 8;
        }
      }
      x += 4 + len;
    }
    if (flags & 1) fail(name, fmt::format("zip entry '{}' is encrypted", entry));
    if (method != 0 || csize != usize)
      fail(name, fmt::format("zip entry '{}' is compressed (method {}); torch.save writes stored entries", entry, method));
    if (local > n || n - local < 30 || le(d + local, 4) != 0x04034b50)
      fail(name, fmt::format("{} (bad local header of '{}')", what, entry));
    const uint64_t data = local + 30 + le(d + local + 26, 2) + le(d + local + 28, 2);
    if (data > n || usize > n - data) fail(name, fmt::format("truncated zip archive (entry '{}' out of bounds)", entry));
    if (!records.emplace(entry, ZipRecord{data, usize, crc}).second)
      fail(name, fmt::format("{} (duplicate entry '{}')", what, entry));
    p += 46 + nlen + elen + clen;
  }
  return records;
}

// ---------------------------------------------------------------------------------
// Unpickler. Values live in shared nodes because the memo (BINPUT/BINGET) and the
// in-place container opcodes (SETITEM, APPEND) need reference semantics.

enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

struct Storage {
  std::string key;
  torch::ScalarType dtype = torch::kFloat;
  int64_t numel = 0;
};

struct TensorRef {
  Storage storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;                // Str, and "module.name" of a Global
  std::vector<ValuePtr> items;  // Tuple, List; Dict as key, value, key, value, ...
  Storage storage;
  TensorRef tensor;
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

struct StorageType {
  const char* name;
  torch::ScalarType dtype;
};
// The storage classes torch.save names in a pickle, whatever the PyTorch version.
const StorageType kStorageTypes[] = {
    {"torch.FloatStorage", torch::kFloat},   {"torch.DoubleStorage", torch::kDouble},
    {"torch.HalfStorage", torch::kHalf},     {"torch.BFloat16Storage", torch::kBFloat16},
    {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
    {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
    {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool},
};

const std::set<std::string> kCallables = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                           "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter"};

constexpr int64_t kMaxDim = int64_t{1} << 40;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, size_t start, std::string name)
      : d_(data), n_(size), p_(start), name_(std::move(name)) {}
  // Breaks reference cycles a hostile memo could build, and keeps destruction flat.
  ~Unpickler() {
    stack_.clear();
    memo_.clear();
    for (auto& c : containers_) c->items.clear();
  }

  ValuePtr load();
  size_t position() const { return p_; }
  // Storages met so far, by key (a key always names the same dtype and size).
  const std::map<std::string, Storage>& storages() const { return storages_; }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(name_, fmt::format("pickle: {} (at byte {})", what, op_at_));
  }
  const uint8_t* take(uint64_t count) {
    if (count > n_ - p_) error("truncated pickle");
    const uint8_t* q = d_ + p_;
    p_ += count;
    return q;
  }
  uint64_t read_le(int bytes) { return le(take(bytes), bytes); }
  std::string read_line() {
    const size_t start = p_;
    while (p_ < n_ && d_[p_] != '\n') ++p_;
    if (p_ >= n_) error("truncated pickle");
    ++p_;
    return std::string(reinterpret_cast<const char*>(d_ + start), p_ - 1 - start);
  }
  ValuePtr make(Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    if (k == Kind::Tuple || k == Kind::List || k == Kind::Dict) containers_.push_back(v);
    return v;
  }
  ValuePtr make_int(int64_t i) {
    auto v = make(Kind::Int);
    v->i = i;
    return v;
  }
  ValuePtr make_str(std::string s) {
    auto v = make(Kind::Str);
    v->s = std::move(s);
    return v;
  }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.size() <= floor()) error("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.size() <= floor()) error("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  ValuePtr& memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) error(fmt::format("memo index {} not defined", index));
    return it->second;
  }
  ValuePtr make_global(const std::string& module, const std::string& qualname);
  ValuePtr persistent_load(const ValuePtr& pid);
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args);
  int64_t as_int(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Int && v->kind != Kind::Bool) error(fmt::format("{}: expected int, got {}", what, kind_name(v->kind)));
    return v->i;
  }
  std::vector<int64_t> as_int_tuple(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Tuple && v->kind != Kind::List) error(fmt::format("{}: expected a tuple", what));
    if (v->items.size() > 16) error(fmt::format("{}: {} dimensions", what, v->items.size()));
    std::vector<int64_t> out;
    for (const auto& x : v->items) {
      const int64_t i = as_int(x, what);
      if (i < 0 || i > kMaxDim) error(fmt::format("{}: value {} out of range", what, i));
      out.push_back(i);
    }
    return out;
  }

  const uint8_t* d_;
  size_t n_, p_, op_at_ = 0;
  std::string name_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::vector<ValuePtr> containers_;
  std::map<std::string, Storage> storages_;
};

ValuePtr Unpickler::make_global(const std::string& module, const std::string& qualname) {
  const std::string full = module + "." + qualname;
  bool known = kCallables.count(full) > 0;
  for (const auto& t : kStorageTypes) known = known || full == t.name;
  // Anything else could only be built by running code: refuse it by name.
  if (!known) error(fmt::format("unsupported global '{}'", full));
  auto v = make(Kind::Global);
  v->s = full;
  return v;
}

ValuePtr Unpickler::persistent_load(const ValuePtr& pid) {
  // ('storage', StorageType, key, location, numel[, view_metadata])
  if (pid->kind != Kind::Tuple || pid->items.size() < 5 || pid->items.size() > 6)
    error("persistent id is not a storage tuple");
  const auto& it = pid->items;
  if (it[0]->kind != Kind::Str || it[0]->s != "storage") error("persistent id is not a storage tuple");
  if (it[1]->kind != Kind::Global) error("storage type is not a class");
  const StorageType* type = nullptr;
  for (const auto& t : kStorageTypes)
    if (it[1]->s == t.name) type = &t;
  if (!type) error(fmt::format("'{}' is not a storage type", it[1]->s));
  if (it[2]->kind != Kind::Str || it[2]->s.empty() || it[2]->s.size() > 256) error("bad storage key");
  if (it[3]->kind != Kind::Str) error("bad storage location");
  const int64_t numel = as_int(it[4], "storage size");
  if (numel < 0 || numel > kMaxDim) error(fmt::format("storage size {} out of range", numel));
  if (it.size() == 6 && it[5]->kind != Kind::None) error("storage views (legacy view_metadata) are not supported");
  Storage s{it[2]->s, type->dtype, numel};
  auto [pos, inserted] = storages_.emplace(s.key, s);
  if (!inserted && (pos->second.dtype != s.dtype || pos->second.numel != s.numel))
    error(fmt::format("storage '{}' declared twice with different types or sizes", s.key));
  auto v = make(Kind::Storage);
  v->storage = s;
  return v;
}

ValuePtr Unpickler::reduce(const ValuePtr& callable, const ValuePtr& args) {
  if (callable->kind != Kind::Global) error(fmt::format("REDUCE on a {}", kind_name(callable->kind)));
  if (args->kind != Kind::Tuple) error("REDUCE arguments are not a tuple");
  const auto& a = args->items;
  const std::string& f = callable->s;
  if (f == "collections.OrderedDict") {
    if (!a.empty()) error("OrderedDict with arguments");
    return make(Kind::Dict);
  }
  if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
    // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
    const bool v2 = f == "torch._utils._rebuild_tensor_v2";
    if (v2 ? (a.size() < 6 || a.size() > 7) : a.size() != 4) error(fmt::format("{}: {} arguments", f, a.size()));
    if (a[0]->kind != Kind::Storage) error(fmt::format("{}: first argument is not a storage", f));
    auto t = make(Kind::Tensor);
    t->tensor.storage = a[0]->storage;
    t->tensor.offset = as_int(a[1], "storage offset");
    t->tensor.sizes = as_int_tuple(a[2], "tensor size");
    t->tensor.strides = as_int_tuple(a[3], "tensor stride");
    if (t->tensor.sizes.size() != t->tensor.strides.size()) error("tensor size and stride differ in length");
    return t;
  }
  if (f == "torch._utils._rebuild_parameter") {
    if (a.size() != 3 || a[0]->kind != Kind::Tensor) error(fmt::format("{}: bad arguments", f));
    return a[0];
  }
  error(fmt::format("'{}' is not callable", f));
}

ValuePtr Unpickler::load() {
  for (;;) {
    op_at_ = p_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t proto = *take(1);
        if (proto > 5) error(fmt::format("pickle protocol {} is not supported", proto));
        break;
      }
      case 0x95: take(8); break;  // FRAME: framing is only a read-ahead hint
      case '.': {                 // STOP
        if (!marks_.empty() || stack_.size() != 1) error("malformed pickle (STOP with a stack of " + std::to_string(stack_.size()) + ")");
        ValuePtr v = pop();
        return v;
      }
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                             // POP
      case '1': pop_mark(); break;                        // POP_MARK
      case '2': push(top()); break;                       // DUP
      case 'N': push(make(Kind::None)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto v = make(Kind::Bool);
        v->i = op == 0x88;
        push(v);
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(read_le(4)))); break;  // BININT
      case 'K': push(make_int(read_le(1))); break;                         // BININT1
      case 'M': push(make_int(read_le(2))); break;                         // BININT2
      case 0x8a: {                                                         // LONG1
        const uint8_t len = *take(1);
        if (len > 8) error("integer wider than 64 bits");
        const uint8_t* b = take(len);
        uint64_t v = le(b, len);
        if (len > 0 && len < 8 && (b[len - 1] & 0x80)) v |= ~uint64_t{0} << (8 * len);  // sign-extend
        push(make_int(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* b = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];
        auto v = make(Kind::Float);
        std::memcpy(&v->f, &bits, 8);
        push(v);
        break;
      }
      case 'X':     // BINUNICODE
      case 0x8c:    // SHORT_BINUNICODE
      case 0x8d:    // BINUNICODE8
      case 'T':     // BINSTRING
      case 'U':     // SHORT_BINSTRING
      case 'B':     // BINBYTES
      case 'C': {   // SHORT_BINBYTES
        const int width = (op == 0x8c || op == 'U' || op == 'C') ? 1 : op == 0x8d ? 8 : 4;
        const uint64_t len = read_le(width);
        if (op == 'T' && len > 0x7FFFFFFF) error("negative string length");
        const uint8_t* b = take(len);
        push(make_str(std::string(reinterpret_cast<const char*>(b), len)));
        break;
      }
      case ')': push(make(Kind::Tuple)); break;  // EMPTY_TUPLE
      case 't': {                                // TUPLE
        auto items = pop_mark();
        auto v = make(Kind::Tuple);
        v->items = std::move(items);
        push(v);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t count = op - 0x84;
        auto v = make(Kind::Tuple);
        v->items.resize(count);
        for (size_t k = count; k-- > 0;) v->items[k] = pop();
        push(v);
        break;
      }
      case ']': push(make(Kind::List)); break;  // EMPTY_LIST
      case 'a': {                               // APPEND
        ValuePtr x = pop();
        ValuePtr& list = top();
        if (list->kind != Kind::List) error("APPEND to a non-list");
        list->items.push_back(std::move(x));
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        ValuePtr& list = top();
        if (list->kind != Kind::List) error("APPENDS to a non-list");
        for (auto& x : items) list->items.push_back(std::move(x));
        break;
      }
      case '}': push(make(Kind::Dict)); break;  // EMPTY_DICT
      case 's': {                               // SETITEM
        ValuePtr value = pop();
        ValuePtr key = pop();
        ValuePtr& dict = top();
        if (dict->kind != Kind::Dict) error("SETITEM on a non-dict");
        dict->items.push_back(std::move(key));
        dict->items.push_back(std::move(value));
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        if (items.size() % 2) error("SETITEMS with an odd number of items");
        ValuePtr& dict = top();
        if (dict->kind != Kind::Dict) error("SETITEMS on a non-dict");
        for (auto& x : items) dict->items.push_back(std::move(x));
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = read_line();
        std::string qualname = read_line();
        push(make_global(module, qualname));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr qualname = pop();
        ValuePtr module = pop();
        if (module->kind != Kind::Str || qualname->kind != Kind::Str) error("STACK_GLOBAL of non-strings");
        push(make_global(module->s, qualname->s));
        break;
      }
      case 'Q': push(persistent_load(pop())); break;  // BINPERSID
      case 'R': {                                       // REDUCE
        ValuePtr args = pop();
        ValuePtr callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD: only the state of an OrderedDict (its _metadata), not needed
        pop();
        if (top()->kind != Kind::Dict) error(fmt::format("BUILD on a {}", kind_name(top()->kind)));
        break;
      }
      case 'q': memo_[read_le(1)] = top(); break;            // BINPUT
      case 'r': memo_[read_le(4)] = top(); break;            // LONG_BINPUT
      case 0x94: memo_[memo_.size()] = top(); break;         // MEMOIZE
      case 'h': push(memo_get(read_le(1))); break;           // BINGET
      case 'j': push(memo_get(read_le(4))); break;           // LONG_BINGET
      default: error(fmt::format("unsupported opcode 0x{:02x}", op));
    }
  }
}

// ---------------------------------------------------------------------------------

struct Parsed {
  std::vector<std::pair<std::string, TensorRef>> tensors;
  std::map<std::string, Storage> storages;
};

Parsed parse_state_dict_pickle(Unpickler& u, const std::string& name) {
  ValuePtr root = u.load();
  if (root->kind != Kind::Dict)
    fail(name, fmt::format("the pickled object is a {}, not a state_dict", kind_name(root->kind)));
  Parsed out;
  std::set<std::string> seen;
  for (size_t k = 0; k + 1 < root->items.size(); k += 2) {
    const auto& key = root->items[k];
    const auto& value = root->items[k + 1];
    if (key->kind != Kind::Str) fail(name, "state_dict key is not a string");
    if (value->kind != Kind::Tensor) fail(name, fmt::format("state_dict entry '{}' is a {}, not a tensor", key->s, kind_name(value->kind)));
    if (!seen.insert(key->s).second) fail(name, fmt::format("duplicate state_dict key '{}'", key->s));
    out.tensors.emplace_back(key->s, value->tensor);
  }
  out.storages = u.storages();
  return out;
}

size_t element_size(torch::ScalarType t) { return c10::elementSize(t); }

torch::Tensor storage_tensor(const Storage& s, const uint8_t* bytes) {
  // Copied into torch-owned memory: the file buffer is not aligned for the dtype.
  const auto raw_type = s.dtype == torch::kBool ? torch::kByte : s.dtype;
  torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(raw_type));
  if (s.numel > 0) std::memcpy(t.data_ptr(), bytes, static_cast<size_t>(s.numel) * element_size(s.dtype));
  return s.dtype == torch::kBool ? t.ne(0) : t;
}

StateDict build(const Parsed& parsed, const std::map<std::string, torch::Tensor>& storages, const std::string& name) {
  StateDict out;
  // Strides of 0 would let a tiny file ask for huge copies: bound what is produced.
  uint64_t total_bytes = 0;
  for (const auto& [key, ref] : parsed.tensors) {
    const auto& st = storages.at(ref.storage.key);
    int64_t numel = 1, last = ref.offset;
    for (size_t k = 0; k < ref.sizes.size(); ++k) {
      if (__builtin_mul_overflow(numel, ref.sizes[k], &numel)) fail(name, fmt::format("tensor '{}': size overflows", key));
      int64_t span = 0;
      if (ref.sizes[k] > 0 && (__builtin_mul_overflow(ref.sizes[k] - 1, ref.strides[k], &span) ||
                               __builtin_add_overflow(last, span, &last)))
        fail(name, fmt::format("tensor '{}': stride overflows", key));
    }
    if (ref.offset < 0 || ref.offset > ref.storage.numel || (numel > 0 && last >= ref.storage.numel))
      fail(name, fmt::format("tensor '{}' reaches beyond its storage ({} elements)", key, ref.storage.numel));
    if (numel > ref.storage.numel ||
        (total_bytes += static_cast<uint64_t>(numel) * element_size(ref.storage.dtype)) > kMaxStateDictBytes)
      fail(name, fmt::format("tensor '{}' has more elements ({}) than the file can hold", key, numel));
    torch::Tensor t = numel == 0 ? torch::empty(ref.sizes, st.options())
                                 : st.as_strided(ref.sizes, ref.strides, ref.offset).clone(at::MemoryFormat::Contiguous);
    out.emplace(key, std::move(t));
  }
  return out;
}

StateDict read_zip(const uint8_t* d, size_t n, const std::string& name) {
  const auto records = read_zip_directory(d, n, name);
  // The records sit under one top folder named after the archive: "<archive>/data.pkl".
  std::string prefix;
  int found = 0;
  for (const auto& [entry, rec] : records) {
    const auto slash = entry.find('/');
    if (slash != std::string::npos && entry.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefix = entry.substr(0, slash + 1);
      ++found;
    }
  }
  if (found != 1) fail(name, found == 0 ? "zip archive has no data.pkl (not a torch.save file)" : "zip archive has several data.pkl");
  auto record = [&](const std::string& rel) -> const ZipRecord* {
    auto it = records.find(prefix + rel);
    return it == records.end() ? nullptr : &it->second;
  };
  auto check_crc = [&](const std::string& rel, const ZipRecord& r) {
    if (crc32(d + r.offset, r.size) != r.crc) fail(name, fmt::format("zip entry '{}{}' is corrupt (CRC mismatch)", prefix, rel));
  };
  if (const ZipRecord* bo = record("byteorder")) {
    const std::string order(reinterpret_cast<const char*>(d + bo->offset), bo->size);
    if (order != "little") fail(name, fmt::format("byte order '{}' is not supported", order));
  }
  const ZipRecord* pkl = record("data.pkl");
  check_crc("data.pkl", *pkl);
  Parsed parsed;
  {
    Unpickler u(d + pkl->offset, pkl->size, 0, name);
    parsed = parse_state_dict_pickle(u, name);
  }
  std::map<std::string, torch::Tensor> storages;
  for (const auto& [key, s] : parsed.storages) {
    const ZipRecord* r = record("data/" + key);
    if (!r) fail(name, fmt::format("zip archive lacks storage record 'data/{}'", key));
    if (r->size != static_cast<uint64_t>(s.numel) * element_size(s.dtype))
      fail(name, fmt::format("storage record 'data/{}' has {} bytes, expected {}", key, r->size,
                             static_cast<uint64_t>(s.numel) * element_size(s.dtype)));
    check_crc("data/" + key, *r);
    storages.emplace(key, storage_tensor(s, d + r->offset));
  }
  return build(parsed, storages, name);
}

// Legacy torch.save: pickles of a magic number, the protocol version (1001) and
// sys_info, then the object, then the list of storage keys, then each storage as a
// little-endian int64 element count followed by its bytes.
const uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

StateDict read_legacy(const uint8_t* d, size_t n, const std::string& name) {
  size_t pos = sizeof(kLegacyMagic);
  {
    Unpickler u(d, n, pos, name);
    const ValuePtr version = u.load();
    if (version->kind != Kind::Int || version->i != 1001)
      fail(name, "unsupported legacy torch.save protocol version");
    pos = u.position();
  }
  {
    Unpickler u(d, n, pos, name);
    const ValuePtr info = u.load();
    if (info->kind != Kind::Dict) fail(name, "legacy torch.save file without sys_info");
    for (size_t k = 0; k + 1 < info->items.size(); k += 2)
      if (info->items[k]->kind == Kind::Str && info->items[k]->s == "little_endian" &&
          !(info->items[k + 1]->kind == Kind::Bool && info->items[k + 1]->i))
        fail(name, "big-endian weight files are not supported");
    pos = u.position();
  }
  Parsed parsed;
  {
    Unpickler u(d, n, pos, name);
    parsed = parse_state_dict_pickle(u, name);
    pos = u.position();
  }
  std::vector<std::string> keys;
  {
    Unpickler u(d, n, pos, name);
    const ValuePtr list = u.load();
    if (list->kind != Kind::List) fail(name, "legacy torch.save file without a storage key list");
    for (const auto& k : list->items) {
      if (k->kind != Kind::Str) fail(name, "storage key is not a string");
      keys.push_back(k->s);
    }
    pos = u.position();
  }
  std::map<std::string, torch::Tensor> storages;
  for (const auto& key : keys) {
    auto it = parsed.storages.find(key);
    if (it == parsed.storages.end()) fail(name, fmt::format("storage '{}' is listed but never used", key));
    if (storages.count(key)) fail(name, fmt::format("storage '{}' is listed twice", key));
    const Storage& s = it->second;
    if (n - pos < 8) fail(name, "truncated file (storage data missing)");
    const uint64_t count = le(d + pos, 8);
    pos += 8;
    if (count != static_cast<uint64_t>(s.numel))
      fail(name, fmt::format("storage '{}' holds {} elements, the pickle says {}", key, count, s.numel));
    const uint64_t bytes = count * element_size(s.dtype);
    if (bytes > n - pos) fail(name, fmt::format("truncated file (storage '{}' needs {} bytes, {} left)", key, bytes, n - pos));
    storages.emplace(key, storage_tensor(s, d + pos));
    pos += bytes;
  }
  for (const auto& [key, s] : parsed.storages)
    if (!storages.count(key)) fail(name, fmt::format("truncated file (storage '{}' missing)", key));
  return build(parsed, storages, name);
}

}  // namespace

StateDict read_state_dict(const uint8_t* data, size_t size, const std::string& name) {
  if (size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0) return read_zip(data, size, name);
  if (size >= sizeof(kLegacyMagic) && std::memcmp(data, kLegacyMagic, sizeof(kLegacyMagic)) == 0)
    return read_legacy(data, size, name);
  if (size < 4) fail(name, "truncated file (not a torch.save weight file)");
  fail(name, "not a torch.save weight file (neither a zip archive nor a legacy torch.save stream)");
}

StateDict read_state_dict(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path, kMaxStateDictBytes);
  return read_state_dict(bytes.data(), bytes.size(), path);
}

}  // namespace hrvq
