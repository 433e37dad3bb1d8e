// Datasets in their official formats, and a background-threaded batch loader.
//   MNIST IDX (raw or .gz), CIFAR-10 binary (data_batch_N.bin / test_batch.bin),
//   FFHQ (a folder of PNG), ImageNet (train/<class>/*.JPEG) and any folder of PNG/JPEG
//   images, searched recursively (paths sorted bytewise).
//
// What a path means, by kind:
//   mnist     an images file (*idx3-ubyte, raw or .gz), or a folder holding one: the
//             first of train-images*, then t10k-images*, then the only *idx3-ubyte* file
//             (raw preferred over .gz of the same name); more than one other is an error.
//             Items are 1-channel, rows x cols as the header says (28x28).
//   cifar10   a .bin file of 3073-byte records (label, 1024 R, 1024 G, 1024 B), or a
//             folder: data_batch_1.bin..data_batch_5.bin in that order (those present),
//             else test_batch.bin alone. A folder holding cifar-10-batches-bin/ (the
//             unpacked official archive) means that subfolder.
//   ffhq, folder  every .png/.jpg/.jpeg (any case) below the folder, recursively, in
//             bytewise order of relative path; names starting with '.' are skipped, and
//             links to files are followed but links to folders are not. A single image
//             file is a one-item dataset.
//   imagenet  as folder, but a folder holding train/ means train/ (the official layout
//             puts train/<class>/*.JPEG and val/ side by side).
//   auto      mnist for idx files or folders holding one, cifar10 for .bin files or
//             folders holding data_batch_N.bin / test_batch.bin / cifar-10-batches-bin/,
//             else folder.
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

// How an item becomes a size x size image:
//   Resize      stretches to size x size (aspect ratio not kept).
//   CenterCrop  resizes so the short side is `size` (always, up or down, so every image
//               shows its whole short side) and keeps the centred square.
//   RandomCrop  takes a random size x size window at native resolution; an image whose
//               short side is smaller than `size` is first resized up to it.
// Downscaling averages areas (box filter, no aliasing); upscaling is bilinear.
// The random crop and flip come from item_seed(seed, epoch, position in epoch).
struct TransformOptions {
  int size = 0;            // output is size x size; 0 keeps the size (fit is then unused)
  int channels = 3;        // 1 or 3: gray/RGB conversion to the model's channels
  FitMode fit = FitMode::CenterCrop;
  bool random_flip = false;  // mirror left-right with probability 1/2
};

// Seed of one item's random crop and flip: splitmix64 of (seed, epoch, position).
uint64_t item_seed(uint64_t seed, uint64_t epoch, uint64_t position);
// Applies `options` to one image; deterministic in (image, options, seed).
Image transform_image(const Image& image, const TransformOptions& options, uint64_t seed);
// Resamples to width x height: box average when shrinking an axis, bilinear when growing.
Image resample_image(const Image& image, int width, int height);

struct LoaderOptions {
  size_t batch_size = 64;
  bool shuffle = false;    // a fresh permutation each epoch, from (seed, epoch)
  bool drop_last = false;  // drop the last batch of an epoch when it is short
  uint64_t seed = 0;
  int threads = 2;         // background decode threads (at least 1); each decodes whole batches
  // Batches decoded ahead of the consumer: at most max(prefetch_batches, threads), which
  // bounds memory while keeping every thread busy.
  size_t prefetch_batches = 4;
  // Data-parallel jobs: shard_count loaders (one per rank) split every global batch of
  // batch_size * shard_count positions; loader shard_index takes the shard_index-th
  // batch_size of them. Crops and flips still depend only on (seed, epoch, position), so
  // the union over ranks is exactly the one-process batch of batch_size * shard_count.
  size_t shard_index = 0;
  size_t shard_count = 1;
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
//
// Batch b of an epoch always holds positions [b*batch_size, (b+1)*batch_size) of that
// epoch's order. A corrupt item (Dataset::get throws hrvq::Error) is left out, so its
// batch comes out smaller rather than borrowing from the next one: filling up would make
// every later batch boundary depend on which items failed to decode, and seek() could no
// longer find a batch without decoding everything before it. A batch with no good item
// is passed over. Corrupt items are remembered and not decoded again.
// next() throws hrvq::Error for anything else: a whole epoch without one good item,
// images of different sizes in a batch with TransformOptions::size 0, ...
// The dataset must outlive the loader. The destructor stops and joins the threads,
// also mid-epoch.
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
  // The errors that made them corrupt, in the same order ("a.png: not a PNG or JPEG image").
  std::vector<std::string> skipped_messages() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrvq
