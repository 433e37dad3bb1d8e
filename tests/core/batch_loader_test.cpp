// The background batch loader: order, determinism across thread counts, exact resume,
// corrupt items, prefetching and shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"

using namespace hrvq;

namespace {

// Item i is a w x h RGB image: R = i, G = x * 16 + y, B = 255 - i; items in `corrupt`
// throw like an undecodable file.
class SyntheticDataset : public Dataset {
 public:
  SyntheticDataset(size_t n, int w, int h, std::set<size_t> corrupt = {}) : n_(n), w_(w), h_(h), corrupt_(corrupt) {}
  size_t size() const override { return n_; }
  Image get(size_t index) const override {
    ++gets;
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (corrupt_.count(index)) throw Error(item_name(index) + ": corrupt data");
    if (index == fatal_index) throw std::logic_error("broken reader");
    Image img;
    img.width = w_ + (vary_size && index % 2 ? 1 : 0);
    img.height = h_;
    img.channels = 3;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) {
        img.pixels.push_back(static_cast<uint8_t>(index));
        img.pixels.push_back(static_cast<uint8_t>(x * 16 + y));
        img.pixels.push_back(static_cast<uint8_t>(255 - index));
      }
    return img;
  }
  std::string item_name(size_t index) const override { return "synthetic[" + std::to_string(index) + "]"; }
  DatasetKind kind() const override { return DatasetKind::Folder; }

  mutable std::atomic<size_t> gets{0};
  int delay_ms = 0;
  bool vary_size = false;
  size_t fatal_index = SIZE_MAX;  // throws something other than hrvq::Error

 private:
  size_t n_;
  int w_, h_;
  std::set<size_t> corrupt_;
};

LoaderOptions opts(size_t batch, bool shuffle, int threads, uint64_t seed = 5) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.threads = threads;
  o.seed = seed;
  return o;
}

std::vector<Batch> take(BatchLoader& loader, size_t n) {
  std::vector<Batch> out;
  for (size_t i = 0; i < n; ++i) out.push_back(loader.next());
  return out;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_EQ(a[i].pixels, b[i].pixels) << "batch " << i;
    EXPECT_EQ(a[i].count, b[i].count);
  }
}

}  // namespace

TEST(BatchLoader, SequentialOrderAndLayout) {
  SyntheticDataset ds(10, 3, 2);
  TransformOptions t;
  BatchLoader loader(ds, t, opts(4, false, 2));
  ASSERT_EQ(loader.batches_per_epoch(), 3u);
  std::vector<size_t> seen;
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(loader.epoch(), 0u);
    EXPECT_EQ(loader.batch_in_epoch(), static_cast<uint64_t>(b));
    Batch batch = loader.next();
    EXPECT_EQ(batch.count, b < 2 ? 4u : 2u);
    EXPECT_EQ(batch.channels, 3);
    EXPECT_EQ(batch.width, 3);
    EXPECT_EQ(batch.height, 2);
    ASSERT_EQ(batch.pixels.size(), batch.count * 3 * 3 * 2);
    ASSERT_EQ(batch.indices.size(), batch.count);
    for (size_t k = 0; k < batch.count; ++k) {
      size_t i = batch.indices[k];
      const uint8_t* item = &batch.pixels[k * 18];
      // NCHW: planes of 6 samples per channel.
      for (int s = 0; s < 6; ++s) {
        EXPECT_EQ(item[s], i);
        EXPECT_EQ(item[12 + s], 255 - i);
      }
      EXPECT_EQ(item[6 + 1], 16);  // G at (y=0, x=1)
      EXPECT_EQ(item[6 + 3], 1);   // G at (y=1, x=0)
      seen.push_back(i);
    }
  }
  std::vector<size_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);
  EXPECT_EQ(loader.epoch(), 1u);
  EXPECT_EQ(loader.batch_in_epoch(), 0u);
  EXPECT_EQ(loader.next().indices, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(BatchLoader, DropLast) {
  SyntheticDataset ds(10, 2, 2);
  LoaderOptions o = opts(4, true, 1);
  o.drop_last = true;
  BatchLoader loader(ds, TransformOptions{}, o);
  EXPECT_EQ(loader.batches_per_epoch(), 2u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(loader.next().count, 4u);
  EXPECT_EQ(loader.epoch(), 3u);
  o.batch_size = 11;
  EXPECT_THROW(BatchLoader(ds, TransformOptions{}, o), Error);
  o.batch_size = 0;
  EXPECT_THROW(BatchLoader(ds, TransformOptions{}, o), Error);
}

TEST(BatchLoader, ShufflePermutesPerEpoch) {
  SyntheticDataset ds(50, 2, 2);
  BatchLoader loader(ds, TransformOptions{}, opts(50, true, 2, 42));
  Batch e0 = loader.next(), e1 = loader.next();
  std::vector<size_t> sorted0 = e0.indices, sorted1 = e1.indices;
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  std::vector<size_t> all(50);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted0, all);
  EXPECT_EQ(sorted1, all);
  EXPECT_NE(e0.indices, all);
  EXPECT_NE(e0.indices, e1.indices);
  BatchLoader same(ds, TransformOptions{}, opts(50, true, 1, 42));
  EXPECT_EQ(same.next().indices, e0.indices);
  BatchLoader other(ds, TransformOptions{}, opts(50, true, 1, 43));
  EXPECT_NE(other.next().indices, e0.indices);
}

TEST(BatchLoader, DeterministicAcrossThreadCounts) {
  SyntheticDataset ds(37, 12, 9, {5, 20});
  TransformOptions t;
  t.size = 6;
  t.fit = FitMode::RandomCrop;
  t.random_flip = true;
  std::vector<std::vector<Batch>> runs;
  for (int threads : {1, 3, 3}) {
    LoaderOptions o = opts(8, true, threads, 9);
    o.prefetch_batches = threads == 1 ? 1 : 6;
    BatchLoader loader(ds, t, o);
    runs.push_back(take(loader, 12));  // 2.4 epochs
    EXPECT_EQ(loader.skipped(), 2u);
  }
  expect_same(runs[0], runs[1]);
  expect_same(runs[0], runs[2]);
  // Crops and flips really vary between epochs of the same item.
  bool varied = false;
  for (const Batch& a : runs[0])
    for (const Batch& b : runs[0])
      if (&a != &b)
        for (size_t i = 0; i < a.count; ++i)
          for (size_t j = 0; j < b.count; ++j)
            if (a.indices[i] == b.indices[j] &&
                !std::equal(a.pixels.begin() + i * 108, a.pixels.begin() + (i + 1) * 108, b.pixels.begin() + j * 108))
              varied = true;
  EXPECT_TRUE(varied);
}

TEST(BatchLoader, SeekResumesExactly) {
  SyntheticDataset ds(23, 10, 10, {4});
  TransformOptions t;
  t.size = 5;
  t.fit = FitMode::RandomCrop;
  t.random_flip = true;
  t.channels = 1;
  BatchLoader full(ds, t, opts(5, true, 2, 3));
  std::vector<Batch> reference = take(full, 14);  // epochs of 5 batches
  for (auto [epoch, batch] : std::vector<std::pair<uint64_t, uint64_t>>{{0, 0}, {1, 2}, {2, 4}, {0, 3}}) {
    BatchLoader resumed(ds, t, opts(5, true, 3, 3));
    resumed.seek(epoch, batch);
    EXPECT_EQ(resumed.epoch(), epoch);
    EXPECT_EQ(resumed.batch_in_epoch(), batch);
    size_t from = epoch * 5 + batch;
    std::vector<Batch> expected(reference.begin() + from, reference.end());
    expect_same(take(resumed, expected.size()), expected);
  }
  // Seeking a loader that is already running, backwards and forwards.
  BatchLoader loader(ds, t, opts(5, true, 2, 3));
  take(loader, 3);
  loader.seek(0, 1);
  expect_same(take(loader, 2), std::vector<Batch>(reference.begin() + 1, reference.begin() + 3));
  loader.seek(2, 0);
  expect_same(take(loader, 1), std::vector<Batch>(reference.begin() + 10, reference.begin() + 11));
  EXPECT_THROW(loader.seek(0, 5), Error);
}

TEST(BatchLoader, CorruptItemsSkippedAndReportedOnce) {
  SyntheticDataset ds(10, 2, 2, {3, 7});
  BatchLoader loader(ds, TransformOptions{}, opts(4, false, 2));
  Batch b0 = loader.next();
  EXPECT_EQ(b0.indices, (std::vector<size_t>{0, 1, 2}));  // smaller, not filled from the next batch
  EXPECT_EQ(b0.count, 3u);
  EXPECT_EQ(b0.pixels.size(), 3u * 12);
  EXPECT_EQ(loader.skipped(), 1u);
  Batch b1 = loader.next();
  EXPECT_EQ(b1.indices, (std::vector<size_t>{4, 5, 6}));
  take(loader, 7);  // three more epochs' worth
  EXPECT_EQ(loader.skipped(), 2u);
  EXPECT_EQ(loader.skipped_names(), (std::vector<std::string>{"synthetic[3]", "synthetic[7]"}));
  ASSERT_EQ(loader.skipped_messages().size(), 2u);
  EXPECT_EQ(loader.skipped_messages()[0], "synthetic[3]: corrupt data");
}

TEST(BatchLoader, WhollyCorruptBatchIsPassedOver) {
  SyntheticDataset ds(12, 2, 2, {4, 5, 6, 7});
  BatchLoader loader(ds, TransformOptions{}, opts(4, false, 1));
  EXPECT_EQ(loader.next().indices, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(loader.next().indices, (std::vector<size_t>{8, 9, 10, 11}));
  EXPECT_EQ(loader.epoch(), 1u);
  EXPECT_EQ(loader.batch_in_epoch(), 0u);
  EXPECT_EQ(loader.skipped(), 4u);
}

TEST(BatchLoader, AllCorruptIsAnError) {
  SyntheticDataset ds(6, 2, 2, {0, 1, 2, 3, 4, 5});
  BatchLoader loader(ds, TransformOptions{}, opts(2, true, 2));
  try {
    loader.next();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
}

TEST(BatchLoader, OtherExceptionsReachNextAsErrors) {
  SyntheticDataset ds(8, 2, 2);
  ds.fatal_index = 5;
  BatchLoader loader(ds, TransformOptions{}, opts(4, false, 2));
  EXPECT_EQ(loader.next().count, 4u);
  try {
    loader.next();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "synthetic[5]: broken reader");
  }
  EXPECT_EQ(loader.skipped(), 0u);
}

TEST(BatchLoader, MixedSizesNeedATransformSize) {
  SyntheticDataset ds(4, 3, 3);
  ds.vary_size = true;
  BatchLoader loader(ds, TransformOptions{}, opts(4, false, 1));
  EXPECT_THROW(loader.next(), Error);
  TransformOptions t;
  t.size = 3;
  t.fit = FitMode::Resize;
  BatchLoader sized(ds, t, opts(4, false, 1));
  EXPECT_EQ(sized.next().count, 4u);
}

TEST(BatchLoader, PrefetchesInTheBackgroundWithinBounds) {
  SyntheticDataset ds(100, 2, 2);
  LoaderOptions o = opts(4, false, 2);
  o.prefetch_batches = 2;
  BatchLoader loader(ds, TransformOptions{}, o);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds.gets.load(), 0u);  // nothing is decoded before the first next()
  loader.next();
  // The next two batches are decoded without being asked for, and no more.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ds.gets.load() < 12 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds.gets.load(), 12u);
}

TEST(BatchLoader, DestructorJoinsMidEpoch) {
  SyntheticDataset ds(1000, 2, 2);
  ds.delay_ms = 2;
  auto start = std::chrono::steady_clock::now();
  {
    LoaderOptions o = opts(50, true, 3);
    o.prefetch_batches = 8;
    BatchLoader loader(ds, TransformOptions{}, o);
    loader.next();
  }
  // Workers stop between items rather than finishing their batches.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(BatchLoader, CommittedFolderWithCorruptFile) {
  auto ds = open_dataset(std::string(HRVQ_TESTDATA) + "/datasets/folder");
  TransformOptions t;
  t.size = 4;
  t.fit = FitMode::CenterCrop;
  t.channels = 3;
  BatchLoader loader(*ds, t, opts(8, false, 2));
  Batch b = loader.next();
  EXPECT_EQ(b.count, 3u);
  EXPECT_EQ(b.indices, (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(b.pixels.size(), 3u * 3 * 4 * 4);
  ASSERT_EQ(loader.skipped_names().size(), 1u);
  EXPECT_EQ(loader.skipped_names()[0], ds->item_name(1));
  // a.PNG is flat (10, 200, 30): its planes stay flat after resizing.
  for (int s = 0; s < 16; ++s) {
    EXPECT_EQ(b.pixels[1 * 48 + s], 10);
    EXPECT_EQ(b.pixels[1 * 48 + 16 + s], 200);
    EXPECT_EQ(b.pixels[1 * 48 + 32 + s], 30);
  }
}

// Data-parallel ranks: shard r of R takes the r-th part of every global batch, so the
// shards' batches side by side are the one-loader batches of R times the size, crops and
// flips included.
TEST(BatchLoader, ShardsSplitTheGlobalBatch) {
  SyntheticDataset ds(50, 12, 9);
  TransformOptions t;
  t.size = 6;
  t.fit = FitMode::RandomCrop;
  t.random_flip = true;
  LoaderOptions whole_opts = opts(12, true, 2, 3);
  whole_opts.drop_last = true;
  BatchLoader whole(ds, t, whole_opts);
  std::vector<std::unique_ptr<BatchLoader>> shards;
  for (size_t r = 0; r < 3; ++r) {
    LoaderOptions o = opts(4, true, 1, 3);
    o.drop_last = true;
    o.shard_index = r;
    o.shard_count = 3;
    shards.push_back(std::make_unique<BatchLoader>(ds, t, o));
    EXPECT_EQ(shards.back()->batches_per_epoch(), whole.batches_per_epoch());
  }
  for (int b = 0; b < 10; ++b) {  // 2.5 epochs
    Batch w = whole.next();
    std::vector<size_t> indices;
    std::vector<uint8_t> pixels;
    for (auto& s : shards) {
      Batch part = s->next();
      EXPECT_EQ(part.count, 4u);
      indices.insert(indices.end(), part.indices.begin(), part.indices.end());
      pixels.insert(pixels.end(), part.pixels.begin(), part.pixels.end());
    }
    EXPECT_EQ(indices, w.indices) << "batch " << b;
    EXPECT_EQ(pixels, w.pixels) << "batch " << b;
  }
  LoaderOptions bad = opts(4, true, 1);
  bad.shard_index = 3;
  bad.shard_count = 3;
  EXPECT_THROW(BatchLoader(ds, t, bad), Error);
}
