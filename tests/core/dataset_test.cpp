// Datasets read from files in their official layouts: committed fixtures in
// testdata/datasets (see its README) and trees the tests write into a temporary folder.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"
#include "hrvq/image.hpp"

namespace fs = std::filesystem;
using namespace hrvq;

namespace {

const std::string kData = std::string(HRVQ_TESTDATA) + "/datasets";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hrvq-dataset-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

// An IDX images file; pixel i of image k is (i + fill * k) % 256.
std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols, int fill, uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  put_be32(out, magic);
  put_be32(out, count);
  put_be32(out, rows);
  put_be32(out, cols);
  for (uint32_t k = 0; k < count; ++k)
    for (uint32_t i = 0; i < rows * cols; ++i) out.push_back(static_cast<uint8_t>((i + fill * k) % 256));
  return out;
}

// A CIFAR-10 record whose planes are filled with r, g, b.
std::vector<uint8_t> cifar_record(uint8_t label, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> out{label};
  out.insert(out.end(), 1024, r);
  out.insert(out.end(), 1024, g);
  out.insert(out.end(), 1024, b);
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Image rgb(int w, int h, const std::function<std::array<int, 3>(int, int)>& f) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int v : f(x, y)) img.pixels.push_back(static_cast<uint8_t>(v));
  return img;
}

}  // namespace

// ---- parsing -----------------------------------------------------------------------

TEST(DatasetParse, Kinds) {
  EXPECT_EQ(parse_dataset_kind("auto"), DatasetKind::Auto);
  EXPECT_EQ(parse_dataset_kind("MNIST"), DatasetKind::Mnist);
  EXPECT_EQ(parse_dataset_kind("cifar10"), DatasetKind::Cifar10);
  EXPECT_EQ(parse_dataset_kind("ffhq"), DatasetKind::Ffhq);
  EXPECT_EQ(parse_dataset_kind("imagenet"), DatasetKind::Imagenet);
  EXPECT_EQ(parse_dataset_kind("folder"), DatasetKind::Folder);
  EXPECT_THROW(parse_dataset_kind("celeba"), Error);
  for (DatasetKind k : {DatasetKind::Auto, DatasetKind::Mnist, DatasetKind::Cifar10, DatasetKind::Ffhq,
                        DatasetKind::Imagenet, DatasetKind::Folder})
    EXPECT_EQ(parse_dataset_kind(dataset_kind_name(k)), k);
}

TEST(DatasetParse, Subsets) {
  Subset s = parse_subset("10:20");
  EXPECT_EQ(s.start, 10u);
  EXPECT_EQ(s.end, 20u);
  s = parse_subset(":5");
  EXPECT_FALSE(s.start);
  EXPECT_EQ(s.end, 5u);
  s = parse_subset("7:");
  EXPECT_EQ(s.start, 7u);
  EXPECT_FALSE(s.end);
  s = parse_subset(":");
  EXPECT_FALSE(s.start || s.end);
  for (const char* bad : {"", "5", "a:b", "-1:3", "1:2:3", "5:2", "1 :2", "99999999999999999999999:"})
    EXPECT_THROW(parse_subset(bad), Error) << bad;
}

// ---- MNIST ---------------------------------------------------------------------------

TEST(DatasetMnist, CommittedGzipFile) {
  const std::string file = kData + "/mnist/t10k-images-idx3-ubyte.gz";
  for (const std::string& path : {file, kData + "/mnist"}) {
    auto ds = open_dataset(path);
    ASSERT_EQ(ds->size(), 3u);
    EXPECT_EQ(ds->kind(), DatasetKind::Mnist);
    Image img = ds->get(2);
    EXPECT_EQ(img.width, 28);
    EXPECT_EQ(img.height, 28);
    EXPECT_EQ(img.channels, 1);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) ASSERT_EQ(img.at(y, x, 0), (y * 28 + x + 37 * 2) % 256);
    EXPECT_EQ(ds->item_name(1), "t10k-images-idx3-ubyte.gz[1]");
  }
}

TEST(DatasetMnist, RawFileFolderRuleAndSubset) {
  TempDir tmp;
  write_bytes(tmp / "mnist/train-images-idx3-ubyte", idx_images(5, 4, 3, 11));
  write_gz(tmp / "mnist/t10k-images-idx3-ubyte.gz", idx_images(2, 4, 3, 50));
  write_bytes(tmp / "mnist/train-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0, 0, 0});
  // The folder means the training images when both are there.
  auto ds = open_dataset(tmp / "mnist", DatasetKind::Mnist);
  ASSERT_EQ(ds->size(), 5u);
  EXPECT_EQ(ds->get(0).width, 3);
  EXPECT_EQ(ds->get(0).height, 4);
  auto sub = open_dataset(tmp / "mnist", DatasetKind::Auto, parse_subset("2:4"));
  ASSERT_EQ(sub->size(), 2u);
  EXPECT_EQ(sub->get(0).pixels, ds->get(2).pixels);
  EXPECT_EQ(sub->get(1).pixels, ds->get(3).pixels);
  EXPECT_EQ(sub->item_name(1), "train-images-idx3-ubyte[3]");
  // Without training images, the test images.
  fs::remove(tmp / "mnist/train-images-idx3-ubyte");
  auto test = open_dataset(tmp / "mnist");
  ASSERT_EQ(test->size(), 2u);
  EXPECT_EQ(test->get(1).at(0, 0, 0), 50);
}

TEST(DatasetMnist, Errors) {
  TempDir tmp;
  write_bytes(tmp / "magic-idx3-ubyte", idx_images(2, 4, 4, 1, 0x00000804));
  EXPECT_NE(error_of([&] { open_dataset(tmp / "magic-idx3-ubyte"); }).find("magic 0x00000804"), std::string::npos);
  EXPECT_EQ(error_of([&] { open_dataset(tmp / "magic-idx3-ubyte"); }).rfind(tmp / "magic-idx3-ubyte", 0), 0u);

  auto bytes = idx_images(3, 4, 4, 1);
  bytes.resize(bytes.size() - 1);
  write_bytes(tmp / "short-idx3-ubyte", bytes);
  write_gz(tmp / "short-idx3-ubyte.gz", bytes);
  for (const char* name : {"short-idx3-ubyte", "short-idx3-ubyte.gz"}) {
    std::string msg = error_of([&] { open_dataset(tmp / name); });
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(tmp / name, 0), 0u) << msg;
  }
  // A count far beyond the data is "truncated", not an attempt to allocate it.
  auto huge = idx_images(1, 28, 28, 1);
  huge[4] = 0x7f;
  write_bytes(tmp / "huge-idx3-ubyte", huge);
  EXPECT_NE(error_of([&] { open_dataset(tmp / "huge-idx3-ubyte"); }).find("truncated"), std::string::npos);

  auto longer = idx_images(2, 4, 4, 1);
  longer.push_back(0);
  write_bytes(tmp / "long-idx3-ubyte", longer);
  EXPECT_NE(error_of([&] { open_dataset(tmp / "long-idx3-ubyte"); }).find("longer"), std::string::npos);

  write_bytes(tmp / "hdr-idx3-ubyte", {0, 0, 8, 3, 0});
  EXPECT_NE(error_of([&] { open_dataset(tmp / "hdr-idx3-ubyte"); }).find("header"), std::string::npos);

  write_bytes(tmp / "labels/t10k-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0, 0, 0});
  EXPECT_THROW(open_dataset(tmp / "labels", DatasetKind::Mnist), Error);

  write_bytes(tmp / "corrupt-idx3-ubyte.gz", {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_THROW(open_dataset(tmp / "corrupt-idx3-ubyte.gz"), Error);
}

// ---- CIFAR-10 --------------------------------------------------------------------------

TEST(DatasetCifar, CommittedBatchesInOrder) {
  auto ds = open_dataset(kData + "/cifar");
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(ds->kind(), DatasetKind::Cifar10);
  for (size_t k = 0; k < 3; ++k) {
    Image img = ds->get(k);
    ASSERT_EQ(img.width, 32);
    ASSERT_EQ(img.height, 32);
    ASSERT_EQ(img.channels, 3);
    EXPECT_EQ(img.at(0, 0, 0), 255 - k);  // planes de-interleaved
    EXPECT_EQ(img.at(0, 1, 0), k);
    EXPECT_EQ(img.at(31, 31, 1), 100 + k);
    EXPECT_EQ(img.at(17, 3, 2), 200 + k);
  }
  EXPECT_EQ(ds->item_name(1), "data_batch_1.bin[1]");
  EXPECT_EQ(ds->item_name(2), "data_batch_2.bin[0]");

  // A subset across the two files.
  auto sub = open_dataset(kData + "/cifar", DatasetKind::Cifar10, parse_subset("1:"));
  ASSERT_EQ(sub->size(), 2u);
  EXPECT_EQ(sub->get(0).pixels, ds->get(1).pixels);
  EXPECT_EQ(sub->item_name(1), "data_batch_2.bin[0]");

  auto one = open_dataset(kData + "/cifar/data_batch_2.bin");
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->get(0).pixels, ds->get(2).pixels);
}

TEST(DatasetCifar, FolderRules) {
  TempDir tmp;
  // The official archive unpacks to cifar-10-batches-bin/; the test batch is used only
  // where there are no training batches.
  const std::string dir = tmp / "cifar-10-batches-bin";
  write_bytes(dir + "/test_batch.bin", cifar_record(0, 9, 9, 9));
  auto test = open_dataset(tmp.path());
  ASSERT_EQ(test->size(), 1u);
  EXPECT_EQ(test->get(0).at(0, 0, 0), 9);
  auto rec = cifar_record(1, 3, 3, 3);
  auto rec5 = cifar_record(1, 5, 5, 5);
  rec.insert(rec.end(), rec5.begin(), rec5.end());
  write_bytes(dir + "/data_batch_3.bin", rec);
  write_bytes(dir + "/data_batch_1.bin", cifar_record(1, 1, 1, 1));
  auto train = open_dataset(dir, DatasetKind::Cifar10);
  ASSERT_EQ(train->size(), 3u);
  EXPECT_EQ(train->get(0).at(0, 0, 0), 1);
  EXPECT_EQ(train->get(1).at(0, 0, 0), 3);
  EXPECT_EQ(train->get(2).at(0, 0, 0), 5);
}

TEST(DatasetCifar, TruncatedFileIsNamed) {
  TempDir tmp;
  write_bytes(tmp / "c/data_batch_1.bin", cifar_record(0, 1, 1, 1));
  auto rec = cifar_record(0, 2, 2, 2);
  rec.pop_back();
  write_bytes(tmp / "c/data_batch_2.bin", rec);
  std::string msg = error_of([&] { open_dataset(tmp / "c"); });
  EXPECT_EQ(msg.rfind(tmp / "c/data_batch_2.bin", 0), 0u) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;
}

// ---- folders -------------------------------------------------------------------------

TEST(DatasetFolder, CommittedTreeSortedRecursive) {
  const std::string dir = kData + "/folder";
  auto ds = open_dataset(dir);
  EXPECT_EQ(ds->kind(), DatasetKind::Folder);
  ASSERT_EQ(ds->size(), 4u);  // notes.txt is not an image
  EXPECT_EQ(ds->item_name(0), dir + "/b.png");
  EXPECT_EQ(ds->item_name(1), dir + "/broken.png");
  EXPECT_EQ(ds->item_name(2), dir + "/nested/a.PNG");
  EXPECT_EQ(ds->item_name(3), dir + "/nested/deeper/c.jpeg");
  Image b = ds->get(0);
  ASSERT_EQ(b.width, 8);
  ASSERT_EQ(b.height, 6);
  ASSERT_EQ(b.channels, 3);
  EXPECT_EQ(b.at(5, 7, 0), 210);
  EXPECT_EQ(b.at(5, 7, 1), 200);
  EXPECT_EQ(b.at(5, 7, 2), 200);
  std::string msg = error_of([&] { ds->get(1); });
  EXPECT_EQ(msg.rfind(dir + "/broken.png", 0), 0u) << msg;
  Image c = ds->get(3);
  EXPECT_EQ(c.width, 12);
  EXPECT_EQ(c.height, 10);
  EXPECT_EQ(c.channels, 1);
  EXPECT_EQ(ds->get(2).at(4, 4, 1), 200);

  EXPECT_EQ(open_dataset(dir, DatasetKind::Ffhq)->kind(), DatasetKind::Ffhq);
  auto sub = open_dataset(dir + "/", DatasetKind::Folder, parse_subset("2:3"));
  ASSERT_EQ(sub->size(), 1u);
  EXPECT_EQ(sub->item_name(0), dir + "/nested/a.PNG");
}

TEST(DatasetFolder, ImagenetUsesTrain) {
  const std::string dir = kData + "/imagenet";
  auto ds = open_dataset(dir, DatasetKind::Imagenet);
  EXPECT_EQ(ds->kind(), DatasetKind::Imagenet);
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->item_name(0), dir + "/train/n01440764/n01440764_1.JPEG");
  EXPECT_EQ(ds->item_name(1), dir + "/train/n01443537/n01443537_7.JPEG");
  Image img = ds->get(1);
  EXPECT_EQ(img.width, 12);
  EXPECT_EQ(img.height, 16);
  EXPECT_EQ(img.channels, 3);
  // As a plain folder, val/ counts too.
  EXPECT_EQ(open_dataset(dir)->size(), 3u);
  // A single image file is a one-item dataset.
  auto one = open_dataset(dir + "/val/ILSVRC2012_val_00000001.JPEG");
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->get(0).width, 9);
}

TEST(DatasetFolder, GeneratedTreeOrderAndHiddenFiles) {
  TempDir tmp;
  Image img = rgb(3, 2, [](int x, int y) { return std::array<int, 3>{x * 80, y * 100, 7}; });
  write_bytes(tmp / "ffhq/10000.png", encode_png(img));
  write_bytes(tmp / "ffhq/00000.png", encode_png(img));
  write_bytes(tmp / "ffhq/B.JPG", encode_jpeg(img));
  write_bytes(tmp / "ffhq/a/x.jpg", encode_jpeg(img));
  write_bytes(tmp / "ffhq/._00000.png", {0, 5, 22, 7});
  write_bytes(tmp / "ffhq/.cache/y.png", encode_png(img));
  auto ds = open_dataset(tmp / "ffhq", DatasetKind::Ffhq);
  ASSERT_EQ(ds->size(), 4u);
  EXPECT_EQ(ds->item_name(0), tmp / "ffhq/00000.png");
  EXPECT_EQ(ds->item_name(1), tmp / "ffhq/10000.png");
  EXPECT_EQ(ds->item_name(2), tmp / "ffhq/B.JPG");  // 'B' < 'a' bytewise
  EXPECT_EQ(ds->item_name(3), tmp / "ffhq/a/x.jpg");
  EXPECT_EQ(ds->get(1).pixels, img.pixels);
}

TEST(DatasetFolder, TruncatedImagesAndLinks) {
  TempDir tmp;
  Image img = rgb(16, 16, [](int x, int y) { return std::array<int, 3>{x * 16, y * 16, x ^ y}; });
  auto png = encode_png(img), jpeg = encode_jpeg(img);
  write_bytes(tmp / "d/good.png", png);
  png.resize(png.size() / 2);
  jpeg.resize(jpeg.size() / 3);
  write_bytes(tmp / "d/half.png", png);
  write_bytes(tmp / "d/third.jpg", jpeg);
  write_bytes(tmp / "d/empty.jpeg", {});
  fs::create_directories(tmp / "elsewhere");
  write_bytes(tmp / "elsewhere/z.png", encode_png(img));
  // A link to a file counts; a link to a folder is not followed (no cycles).
  fs::create_symlink(tmp / "elsewhere/z.png", tmp / "d/link.png");
  fs::create_directory_symlink(tmp / "elsewhere", tmp / "d/linked-dir");
  fs::create_directory_symlink(tmp / "d", tmp / "d/cycle");
  auto ds = open_dataset(tmp / "d");
  ASSERT_EQ(ds->size(), 5u);
  EXPECT_EQ(ds->item_name(3), tmp / "d/link.png");
  EXPECT_EQ(ds->get(3).pixels, img.pixels);
  EXPECT_EQ(ds->get(1).pixels, img.pixels);
  for (size_t i : {0, 2, 4}) {
    std::string msg = error_of([&] { ds->get(i); });
    EXPECT_EQ(msg.rfind(ds->item_name(i), 0), 0u) << msg;
  }
}

// ---- errors ----------------------------------------------------------------------------

TEST(DatasetErrors, MissingEmptyAndSubsets) {
  TempDir tmp;
  EXPECT_EQ(error_of([&] { open_dataset(tmp / "nope"); }), tmp / "nope" + ": No such file or directory");
  fs::create_directories(tmp / "empty/sub");
  write_bytes(tmp / "empty/sub/readme.txt", {'h', 'i'});
  EXPECT_EQ(error_of([&] { open_dataset(tmp / "empty"); }), tmp / "empty" + ": no images found");
  EXPECT_EQ(error_of([&] { open_dataset(tmp / "empty", DatasetKind::Imagenet); }), tmp / "empty" + ": no images found");
  EXPECT_THROW(open_dataset(tmp / "empty", DatasetKind::Cifar10), Error);
  EXPECT_THROW(open_dataset(tmp / "empty", DatasetKind::Mnist), Error);
  EXPECT_THROW(open_dataset(tmp / "empty/sub/readme.txt"), Error);

  const std::string cifar = kData + "/cifar";
  EXPECT_EQ(error_of([&] { open_dataset(cifar, DatasetKind::Auto, parse_subset("2:2")); }),
            "subset 2:2 of " + cifar + " is empty");
  std::string msg = error_of([&] { open_dataset(cifar, DatasetKind::Auto, parse_subset("1:4")); });
  EXPECT_EQ(msg.rfind(cifar + ": subset 1:4 is out of range", 0), 0u) << msg;
  msg = error_of([&] { open_dataset(cifar, DatasetKind::Auto, parse_subset("5:")); });
  EXPECT_EQ(msg.rfind(cifar + ": subset 5:", 0), 0u) << msg;
  Subset backwards;
  backwards.start = 2;
  backwards.end = 1;
  EXPECT_THROW(open_dataset(cifar, DatasetKind::Auto, backwards), Error);
  EXPECT_THROW(open_dataset(kData + "/folder", DatasetKind::Auto, parse_subset(":9")), Error);
}

// ---- transforms --------------------------------------------------------------------------

TEST(DatasetTransform, BoxDownsampleAndBilinearUpsample) {
  Image img;
  img.width = 4;
  img.height = 2;
  img.channels = 1;
  img.pixels = {0, 10, 20, 30, 40, 50, 60, 70};
  Image half = resample_image(img, 2, 1);
  EXPECT_EQ(half.pixels, (std::vector<uint8_t>{25, 45}));  // means of 2x2 blocks
  Image third = resample_image(img, 3, 2);  // fractional box: weights 3/4, 1/4 ...
  EXPECT_NEAR(third.pixels[0], 2.5, 0.6);  // (0*3 + 10*1) / 4
  EXPECT_NEAR(third.pixels[1], 15, 0.6);   // (10*1 + 20*1) / 2 over its 4/3 span
  Image flat;
  flat.width = flat.height = 3;
  flat.channels = 3;
  flat.pixels.assign(27, 77);
  Image up = resample_image(flat, 7, 5);
  EXPECT_EQ(up.width, 7);
  EXPECT_EQ(up.height, 5);
  for (uint8_t v : up.pixels) ASSERT_EQ(v, 77);
  Image ramp;
  ramp.width = 2;
  ramp.height = 1;
  ramp.channels = 1;
  ramp.pixels = {0, 100};
  EXPECT_EQ(resample_image(ramp, 4, 1).pixels, (std::vector<uint8_t>{0, 25, 75, 100}));
}

TEST(DatasetTransform, Shapes) {
  Image img = rgb(40, 20, [](int x, int y) { return std::array<int, 3>{x * 6, y * 12, 128}; });
  for (FitMode fit : {FitMode::Resize, FitMode::CenterCrop, FitMode::RandomCrop}) {
    for (int size : {8, 16, 32}) {
      for (int channels : {1, 3}) {
        TransformOptions t;
        t.size = size;
        t.fit = fit;
        t.channels = channels;
        t.random_flip = true;
        Image out = transform_image(img, t, 1234);
        EXPECT_EQ(out.width, size);
        EXPECT_EQ(out.height, size);
        EXPECT_EQ(out.channels, channels);
        EXPECT_EQ(out.pixels.size(), static_cast<size_t>(size * size * channels));
      }
    }
  }
  TransformOptions keep;
  keep.channels = 1;
  Image gray = transform_image(img, keep, 0);
  EXPECT_EQ(gray.width, 40);
  EXPECT_EQ(gray.height, 20);
  EXPECT_EQ(gray.channels, 1);
  keep.channels = 3;
  EXPECT_EQ(transform_image(gray, keep, 0).channels, 3);
}

TEST(DatasetTransform, CenterCropKeepsTheMiddle) {
  // A 30x10 image whose middle 10x10 is white and the rest black.
  Image img = rgb(30, 10, [](int x, int) { int v = x >= 10 && x < 20 ? 255 : 0; return std::array<int, 3>{v, v, v}; });
  TransformOptions t;
  t.size = 5;
  t.fit = FitMode::CenterCrop;
  Image out = transform_image(img, t, 0);
  for (uint8_t v : out.pixels) ASSERT_EQ(v, 255);
  t.size = 20;  // upscaling too: the short side always becomes `size`
  out = transform_image(img, t, 0);
  for (uint8_t v : out.pixels) ASSERT_EQ(v, 255);
}

TEST(DatasetTransform, RandomCropIsAWindowAndSeeded) {
  Image img = rgb(16, 16, [](int x, int y) { return std::array<int, 3>{x, y, 0}; });
  TransformOptions t;
  t.size = 4;
  t.fit = FitMode::RandomCrop;
  std::set<std::pair<int, int>> origins;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Image out = transform_image(img, t, item_seed(7, 0, seed));
    int x0 = out.at(0, 0, 0), y0 = out.at(0, 0, 1);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        ASSERT_EQ(out.at(y, x, 0), x0 + x);  // native resolution window
        ASSERT_EQ(out.at(y, x, 1), y0 + y);
      }
    origins.insert({x0, y0});
    EXPECT_EQ(transform_image(img, t, item_seed(7, 0, seed)).pixels, out.pixels);
  }
  EXPECT_GT(origins.size(), 50u);
  // Smaller than the crop: scaled up so the short side fits, then cropped.
  Image small = rgb(3, 6, [](int, int) { return std::array<int, 3>{1, 2, 3}; });
  t.size = 5;
  Image out = transform_image(small, t, 99);
  EXPECT_EQ(out.width, 5);
  EXPECT_EQ(out.height, 5);
}

TEST(DatasetTransform, FlipReallyFlips) {
  Image img = rgb(5, 3, [](int x, int y) { return std::array<int, 3>{x * 50, y, 255 - x}; });
  TransformOptions t;
  t.random_flip = true;
  int flipped = 0, kept = 0;
  for (uint64_t pos = 0; pos < 64; ++pos) {
    Image out = transform_image(img, t, item_seed(1, 2, pos));
    ASSERT_EQ(out.width, 5);
    if (out.pixels == img.pixels) {
      ++kept;
      continue;
    }
    ++flipped;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 5; ++x)
        for (int c = 0; c < 3; ++c) ASSERT_EQ(out.at(y, x, c), img.at(y, 4 - x, c));
  }
  EXPECT_GT(flipped, 10);
  EXPECT_GT(kept, 10);
  EXPECT_NE(item_seed(1, 2, 3), item_seed(1, 3, 2));
  EXPECT_NE(item_seed(0, 0, 1), item_seed(0, 1, 0));
}
