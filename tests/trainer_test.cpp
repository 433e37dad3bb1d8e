// hrvq train: exact resume, divergence handling, and what a run leaves behind.
#include <gtest/gtest.h>

#include <fstream>

#include "engine_support.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/trainer.hpp"

namespace hrvq {
namespace {

using test::tiny_run;

std::vector<TensorEntry> weights_of(const std::string& path) {
  auto f = load_model_file(path);
  return f.tensors;
}

TEST(Trainer, ResumedRunEndsWithTheSameWeights) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto straight = tiny_run(dir, data, "straight.hrvqm");
  train(straight);

  auto interrupted = tiny_run(dir, data, "resumed.hrvqm");
  interrupted.stop_after = 5;  // as if Ctrl-C arrived after step 5 (mid-epoch, between checkpoints)
  auto first = train(interrupted);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.steps, 5);
  EXPECT_FALSE(file_exists(interrupted.output));
  auto resume = tiny_run(dir, data, "resumed.hrvqm");
  resume.resume = true;
  auto second = train(resume);
  EXPECT_EQ(second.steps, 8);

  auto a = weights_of(straight.output), b = weights_of(resume.output);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(a[i].data == b[i].data) << a[i].name << " differs after resume";
  }
}

TEST(Trainer, DivergenceStopsAndKeepsTheLastCheckpoint) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto o = tiny_run(dir, data, "nan.hrvqm");
  o.train.lr = 1e30;  // the first update blows the weights up
  o.train.checkpoint_every = 1;
  o.train.steps = 50;
  try {
    train(o);
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("diverged"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  // The checkpoint on disk is the last good one: it loads, and its weights are finite.
  auto ckpt = load_model_file(o.output + ".ckpt");
  for (const auto& t : ckpt.tensors)
    if (t.dtype == DType::F32)
      for (float v : tensor_as_f32(t)) ASSERT_TRUE(std::isfinite(v)) << t.name;
  EXPECT_FALSE(file_exists(o.output));
}

TEST(Trainer, WritesGridLogAndCodeCounts) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto o = tiny_run(dir, data, "m.hrvqm");
  train(o);
  // Grid: originals, then reconstructions from 1 and 2 layers; 8 images a row, 2 px gaps.
  Image grid = read_image(o.output + ".grid.png");
  EXPECT_EQ(grid.width, 8 * 18 - 2);
  EXPECT_EQ(grid.height, 3 * 18 - 2);
  std::ifstream log(o.output + ".log.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    EXPECT_NE(line.find("\"perplexity\":["), std::string::npos);
  }
  EXPECT_EQ(lines, 4);  // every 2 of 8 steps
  auto f = load_model_file(o.output);
  auto counts = tensor_as_u64(f.tensor("counts.layer1"));
  EXPECT_EQ(counts.size(), 16u);
  uint64_t total = 0;
  for (auto c : counts) total += c;
  EXPECT_EQ(total, 40u * 4 * 4);  // 40 images of 16x16 at downsampling 4
}

TEST(Trainer, MissingDatasetIsAClearError) {
  test::TempDir dir;
  auto o = tiny_run(dir, dir / "nowhere", "m.hrvqm");
  try {
    train(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos);
  }
}

}  // namespace
}  // namespace hrvq
