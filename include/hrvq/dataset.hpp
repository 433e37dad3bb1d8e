// Datasets in their official formats, and a background-threaded batch loader.
//   MNIST IDX (raw or .gz), CIFAR-10 binary (data_batch_N.bin / test_batch.bin),
//   FFHQ (a folder of PNG), ImageNet (train/<class>/*.JPEG) and any folder of PNG/JPEG
//   images, searched recursively (paths sorted bytewise).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hrvq/image.hpp"

namespace hrvq {

enum class DatasetKind { Auto, Mnist, Cifar10, Ffhq, Imagenet, Folder };

// Parses "auto|mnist|cifar10|ffhq|imagenet|folder"; throws hrvq::Error otherwise.
DatasetKind parse_dataset_kind(const std::string& text);
const char* dataset_kind_name(DatasetKind kind);

// Items START..END-1 in the dataset's natural order (file order for IDX and CIFAR,
// sorted paths for folders). Parsed from "START:END"; either side may be empty.
struct Subset {
  std::optional<size_t> start, end;
};
Subset parse_subset(const std::string& text);

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Decodes item i (after the subset is applied). Throws hrvq::Error naming the item
  // when it is corrupt; the loader skips and counts such items.
  virtual Image get(size_t index) const = 0;
  // A name for messages: "path/to/file.png" or "t10k-images-idx3-ubyte.gz[8123]".
  virtual std::string item_name(size_t index) const = 0;
  virtual DatasetKind kind() const = 0;
};

// A missing path or an empty dataset is a clear hrvq::Error.
std::unique_ptr<Dataset> open_dataset(const std::string& path, DatasetKind kind = DatasetKind::Auto,
                                      const Subset& subset = {});

enum class FitMode { Resize, CenterCrop, RandomCrop };

struct TransformOptions {
  int size = 0;            // output is size x size; 0 keeps the image as it is
  int channels = 3;        // 1 or 3: gray/RGB conversion to the model's channels
  FitMode fit = FitMode::CenterCrop;  // CenterCrop/RandomCrop resize the short side to `size` first when smaller... see loader docs
  bool random_flip = false;
};

struct LoaderOptions {
  size_t batch_size = 64;
  bool shuffle = false;
  bool drop_last = false;
  uint64_t seed = 0;
  int threads = 2;         // background decode threads
  size_t prefetch_batches = 4;
};

// One batch: uint8 NCHW, all images transformed to the same size.
struct Batch {
  size_t count = 0;
  int channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;          // count * channels * height * width
  std::vector<size_t> indices;          // dataset indices of the items
};

// Iterates over epochs of a dataset. Order, crops and flips depend only on
// (seed, epoch, position), never on thread timing, so a run can be resumed exactly
// from (epoch, batch_in_epoch).
class BatchLoader {
 public:
  BatchLoader(const Dataset& dataset, TransformOptions transform, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Positions the loader at the start of batch `batch` of epoch `epoch`.
  void seek(uint64_t epoch, uint64_t batch);
  // The next batch; moves to the next epoch after the last batch of an epoch.
  Batch next();
  uint64_t epoch() const;            // epoch of the batch next() will return
  uint64_t batch_in_epoch() const;   // its position in that epoch
  size_t batches_per_epoch() const;
  // Corrupt items skipped so far, with their names (each reported once).
  size_t skipped() const;
  std::vector<std::string> skipped_names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrvq
