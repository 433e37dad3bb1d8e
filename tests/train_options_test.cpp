// hrvq train's schedule, initialisation and channel-group options: the learning rate
// each step really uses, ICNR's starting point, --init's weight transfer, and that a
// grouped run resumes exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "engine_support.hpp"
#include "hrvq/config.hpp"
#include "hrvq/error.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/trainer.hpp"
#include "model.hpp"
#include "networks.hpp"

namespace hrvq {
namespace {

// The trainer tests' tiny run, in 2 channel groups, with the cosine schedule and ICNR.
TrainOptions grouped_run(const test::TempDir& dir, const std::string& data, const std::string& name) {
  TrainOptions o = test::tiny_run(dir, data, name);
  o.model.groups = 2;
  o.train.flip = false;
  o.train.lr_schedule = "cosine";
  o.train.icnr = true;
  o.loader_threads = 1;
  return o;
}

TEST(TrainOptions, CosineScheduleAndWarmup) {
  TrainConfig t;
  t.lr = 1e-3;
  t.steps = 101;
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 0), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 100), 1e-3) << "constant by default";
  t.lr_schedule = "cosine";
  t.lr_final_factor = 0.01;
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 0), 1e-3);
  EXPECT_NEAR(learning_rate_at(t, 50), 0.5 * (1e-3 + 1e-5), 1e-12);
  EXPECT_NEAR(learning_rate_at(t, 100), 1e-5, 1e-15);
  for (int s = 1; s <= 100; ++s) EXPECT_LT(learning_rate_at(t, s), learning_rate_at(t, s - 1)) << s;
  t.warmup = 10;
  EXPECT_NEAR(learning_rate_at(t, 0), 1e-4, 1e-12);
  TrainConfig no_warmup = t;
  no_warmup.warmup = 0;
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 9), learning_rate_at(no_warmup, 9)) << "the last warm-up step is at full rate";
  EXPECT_DOUBLE_EQ(learning_rate_at(t, 50), learning_rate_at(no_warmup, 50));
  t.lr_schedule = "linear";
  EXPECT_THROW(learning_rate_at(t, 1), Error);
}

TEST(TrainOptions, LogRecordsTheLearningRateUsed) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto o = grouped_run(dir, data, "m.hrvqm");
  o.train.log_every = 1;
  train(o);
  std::ifstream log(o.output + ".log.jsonl");
  std::string line;
  int step = 0;
  while (std::getline(log, line)) {
    const auto at = line.find("\"lr\":");
    ASSERT_NE(at, std::string::npos) << line;
    const double want = learning_rate_at(o.train, step);  // logged to 6 significant digits
    EXPECT_NEAR(std::stod(line.substr(at + 5)), want, want * 1e-5) << line;
    ++step;
  }
  EXPECT_EQ(step, 8);
}

TEST(TrainOptions, IcnrStartsEverySubpixelAsNearestNeighbour) {
  ModelConfig c;
  c.image_channels = 3; c.channels = 8; c.res_blocks = 1; c.res_channels = 4; c.embed_dim = 4; c.layers = 1; c.codes = 4;
  torch::manual_seed(3);
  HrvqModel model(c);
  apply_icnr(*model);
  model->eval();
  torch::NoGradGuard no_grad;
  // The decoder's output then repeats in 2x2 blocks at the last upsampling: every pixel
  // equals its block's top-left one.
  auto y = model->forward(torch::rand({1, 3, 32, 32})).reconstruction;
  auto blocks = y.unfold(2, 2, 2).unfold(3, 2, 2);  // (1, 3, 16, 16, 2, 2)
  auto corner = blocks.select(4, 0).select(4, 0).unsqueeze(4).unsqueeze(5);
  EXPECT_LT((blocks - corner).abs().max().item<double>(), 1e-6);
  HrvqModel plain(c);
  auto z = plain->forward(torch::rand({1, 3, 32, 32})).reconstruction;
  auto zb = z.unfold(2, 2, 2).unfold(3, 2, 2);
  EXPECT_GT((zb - zb.select(4, 0).select(4, 0).unsqueeze(4).unsqueeze(5)).abs().max().item<double>(), 1e-4)
      << "without ICNR the sub-pixels differ";
}

TEST(TrainOptions, InitTakesTheAutoencoderNotTheQuantizer) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto first = grouped_run(dir, data, "first.hrvqm");
  first.model.groups = 1;
  first.model.quantizer = QuantizerKind::Rvq;
  train(first);
  auto second = grouped_run(dir, data, "second.hrvqm");  // hr in 2 groups: other quantizer tensors
  second.init_from = first.output;
  second.train.steps = 0;
  train(second);
  auto a = load_model_file(first.output), b = load_model_file(second.output);
  int same = 0;
  for (const auto& t : b.tensors) {
    const TensorEntry* u = a.find(t.name);
    if (t.name.rfind("encoder.", 0) == 0 || t.name.rfind("decoder.", 0) == 0) {
      ASSERT_NE(u, nullptr) << t.name;
      EXPECT_TRUE(u->data == t.data) << t.name << " not taken over";
      ++same;
    }
  }
  EXPECT_GT(same, 4);
  EXPECT_EQ(b.metadata.get_string("train.init"), first.output);
  auto none = grouped_run(dir, data, "third.hrvqm");
  none.init_from = dir / "missing.hrvqm";
  EXPECT_THROW(train(none), Error);
}

TEST(TrainOptions, GroupedRunResumesExactly) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto straight = grouped_run(dir, data, "straight.hrvqm");
  train(straight);
  auto interrupted = grouped_run(dir, data, "resumed.hrvqm");
  interrupted.stop_after = 5;
  train(interrupted);
  auto resume = grouped_run(dir, data, "resumed.hrvqm");
  resume.resume = true;
  train(resume);
  auto a = load_model_file(straight.output), b = load_model_file(resume.output);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_TRUE(a.tensors[i].data == b.tensors[i].data) << a.tensors[i].name << " differs after resume";
  EXPECT_NE(a.find("quantizer_g1.codebook_1"), nullptr) << "the second group's tree is stored";
}

TEST(TrainOptions, ResumeCanEndTheRunAtTheCheckpoint) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 40);
  auto interrupted = grouped_run(dir, data, "m.hrvqm");
  interrupted.stop_after = 5;
  train(interrupted);
  auto too_early = grouped_run(dir, data, "m.hrvqm");
  too_early.resume = true;
  too_early.steps_explicit = true;
  too_early.train.steps = 4;
  EXPECT_THROW(train(too_early), Error);
  auto finish = too_early;
  finish.train.steps = 5;
  auto s = train(finish);
  EXPECT_EQ(s.steps, 5);
  auto f = load_model_file(finish.output);
  EXPECT_EQ(f.metadata.get_int("train.state.step"), 5);
  EXPECT_EQ(f.metadata.get_int("train.steps"), 5);
  EXPECT_NE(f.find("counts.layer0"), nullptr) << "a finished model carries its code counts";
}

// --precision bf16: the networks run under autocast, but what is stored (weights,
// codebooks) is fp32, training gets as far as fp32 in the same steps, and it did run in
// bf16 (the weights are not fp32's).
TEST(TrainOptions, Bf16TrainsAsFarAsFp32) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 64);
  auto fp32 = grouped_run(dir, data, "fp32.hrvqm");
  fp32.train.steps = 40;
  auto bf16 = fp32;
  bf16.output = dir / "bf16.hrvqm";
  bf16.precision = Precision::Bf16;
  TrainSummary a, b;
  try {
    b = train(bf16);
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();  // a CPU without bf16 convolutions refuses, as it should
  }
  a = train(fp32);
  ASSERT_TRUE(std::isfinite(b.final_mse));
  EXPECT_LT(b.final_mse, 1.25 * a.final_mse) << "fp32 " << a.final_mse << ", bf16 " << b.final_mse;
  auto fa = load_model_file(fp32.output), fb = load_model_file(bf16.output);
  int differ = 0;
  for (const auto& t : fb.tensors) {
    EXPECT_NE(t.dtype, DType::BF16) << t.name;
    const TensorEntry* u = fa.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    differ += !(u->data == t.data);
  }
  EXPECT_GT(differ, 4) << "bf16 training gave fp32's weights: did autocast run?";
}

}  // namespace
}  // namespace hrvq
