// CIFAR-10 binary version (cifar-10-batches-bin): each file is a sequence of 3073-byte
// records, one label byte then 1024 red, 1024 green and 1024 blue bytes of a 32x32
// image, rows top to bottom.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fmt/format.h>

#include "core/dataset_internal.hpp"
#include "hrvq/error.hpp"

namespace hrvq::detail {
namespace {

constexpr int kSide = 32;
constexpr size_t kPlane = kSide * kSide;
constexpr size_t kRecord = 1 + 3 * kPlane;

class CifarDataset : public Dataset {
 public:
  struct Part {
    std::string name;   // file base name, for messages
    size_t first_item;  // index of its first item in this dataset
    size_t first_record;  // record number of that item in the file
  };
  CifarDataset(std::vector<Part> parts, size_t count, std::vector<uint8_t> planes)
      : parts_(std::move(parts)), count_(count), planes_(std::move(planes)) {}

  size_t size() const override { return count_; }
  Image get(size_t index) const override {
    if (index >= count_) throw Error(fmt::format("cifar10[{}]: index out of range", index));
    Image img;
    img.width = img.height = kSide;
    img.channels = 3;
    img.pixels.resize(3 * kPlane);
    const uint8_t* src = &planes_[index * 3 * kPlane];
    for (size_t i = 0; i < kPlane; ++i)
      for (size_t c = 0; c < 3; ++c) img.pixels[i * 3 + c] = src[c * kPlane + i];
    return img;
  }
  std::string item_name(size_t index) const override {
    auto it = std::upper_bound(parts_.begin(), parts_.end(), index,
                               [](size_t i, const Part& p) { return i < p.first_item; });
    if (it == parts_.begin()) return fmt::format("cifar10[{}]", index);
    --it;
    return fmt::format("{}[{}]", it->name, it->first_record + (index - it->first_item));
  }
  DatasetKind kind() const override { return DatasetKind::Cifar10; }

 private:
  std::vector<Part> parts_;
  size_t count_;
  std::vector<uint8_t> planes_;  // the subset's records without their label bytes
};

}  // namespace

std::unique_ptr<Dataset> open_cifar(const std::string& path, const Subset& subset) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno(path, errno);
  std::vector<std::string> files;
  if (S_ISDIR(st.st_mode)) {
    files = find_cifar_files(path);
    if (files.empty())
      throw Error(fmt::format("{}: no CIFAR-10 batch files (data_batch_1.bin .. data_batch_5.bin or test_batch.bin)",
                              path));
  } else {
    files.push_back(path);
  }
  std::vector<size_t> records;
  size_t total = 0;
  for (const std::string& file : files) {
    struct stat fst;
    if (::stat(file.c_str(), &fst) != 0) throw_errno(file, errno);
    if (!S_ISREG(fst.st_mode)) throw Error(fmt::format("{}: not a regular file", file));
    uint64_t size = static_cast<uint64_t>(fst.st_size);
    if (size % kRecord != 0)
      throw Error(fmt::format("{}: size {} is not a multiple of the 3073-byte CIFAR-10 record (truncated or not CIFAR-10)",
                              file, size));
    records.push_back(static_cast<size_t>(size / kRecord));
    total += records.back();
  }
  auto [start, end] = resolve_subset(subset, total, path);
  std::vector<CifarDataset::Part> parts;
  std::vector<uint8_t> planes((end - start) * 3 * kPlane);
  std::vector<uint8_t> record(kRecord);
  size_t file_first = 0, item = 0;
  for (size_t f = 0; f < files.size(); file_first += records[f], ++f) {
    size_t lo = std::max(start, file_first), hi = std::min(end, file_first + records[f]);
    if (lo >= hi) continue;
    parts.push_back({base_name(files[f]), item, lo - file_first});
    FILE* in = std::fopen(files[f].c_str(), "rb");
    if (!in) throw_errno(files[f], errno);
    bool ok = std::fseek(in, static_cast<long>((lo - file_first) * kRecord), SEEK_SET) == 0;
    for (size_t r = lo; ok && r < hi; ++r, ++item) {
      ok = std::fread(record.data(), 1, kRecord, in) == kRecord;
      if (ok) std::copy(record.begin() + 1, record.end(), planes.begin() + item * 3 * kPlane);
    }
    int err = errno;
    bool io_error = std::ferror(in) != 0;
    std::fclose(in);
    if (io_error) throw_errno(files[f], err);
    if (!ok) throw Error(fmt::format("{}: shorter than when it was opened", files[f]));
  }
  return std::make_unique<CifarDataset>(std::move(parts), end - start, std::move(planes));
}

}  // namespace hrvq::detail
