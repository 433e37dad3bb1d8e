// The real hrvq binary: train, info, eval recon, and its errors.
#include <gtest/gtest.h>

#include <fstream>

#include <torch/cuda.h>

#include "engine_support.hpp"

namespace hrvq {
namespace {

const std::string kHrvq = HRVQ_BINARY;

class CliEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    data_ = *dir_ / "mnist.gz";
    test::write_mnist_gz(data_, 48);
    model_ = *dir_ / "m.hrvqm";
    auto r = test::run(kHrvq + " train --preset mnist --data " + data_ +
                       " --subset 0:40 --channels 8 --res-blocks 1 --res-channels 4 --embed-dim 4 -n 2 -m 4 "
                       "--steps 4 --batch 8 --log-every 2 --device cpu -o " + model_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    train_err_ = r.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
  static std::string data_, model_, train_err_;
};
test::TempDir* CliEngine::dir_ = nullptr;
std::string CliEngine::data_, CliEngine::model_, CliEngine::train_err_;

TEST_F(CliEngine, TrainShowsProgress) {
  EXPECT_NE(train_err_.find("step 2/4"), std::string::npos) << train_err_;
  EXPECT_NE(train_err_.find("img/s"), std::string::npos);
  EXPECT_NE(train_err_.find("ETA"), std::string::npos);
  EXPECT_NE(train_err_.find("ppl"), std::string::npos);
}

TEST_F(CliEngine, InfoDescribesTheModel) {
  auto r = test::run(kHrvq + " info " + model_ + " --size 28x28");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("checksum         ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 x 4"), std::string::npos);
  EXPECT_NE(r.out.find("7x7 + 7x7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4.00 per latent position"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters"), std::string::npos);
  auto j = test::run(kHrvq + " info --json " + model_);
  EXPECT_NE(j.out.find("\"raw_bits_per_position\":4.0000"), std::string::npos) << j.out;
}

// A code prior is described from its own keys: whose model it belongs to, its layout.
TEST_F(CliEngine, InfoDescribesThePrior) {
  const std::string prior = std::string(HRVQ_SOURCE_DIR) + "/models/mnist-prior.hrvqm";
  const std::string model = std::string(HRVQ_SOURCE_DIR) + "/models/mnist.hrvqm";
  auto m = test::run(kHrvq + " info --json " + model);
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const auto at = m.out.find("\"fingerprint\":\"");
  ASSERT_NE(at, std::string::npos) << m.out;
  const std::string fingerprint = m.out.substr(at + 15, 16);
  auto r = test::run(kHrvq + " info " + prior);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("code prior"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("for the model " + fingerprint), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 of 8 codes (hierarchical), grids 7x7 + 7x7 + 7x7 for a 28x28 image"), std::string::npos) << r.out;
  auto j = test::run(kHrvq + " info --json " + prior);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_NE(j.out.find("\"kind\":\"prior\""), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"model_fingerprint\":\"" + fingerprint + "\""), std::string::npos) << j.out;
}

TEST_F(CliEngine, EvalReconJson) {
  auto r = test::run(kHrvq + " eval recon -m " + model_ + " --data " + data_ + " --subset 40:48 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"\"images\":8", "\"mse\":", "\"psnr\":", "\"mse_by_layers\":[", "\"seconds\":", "\"perplexity\":["})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << " in " << r.out;
  auto t = test::run(kHrvq + " eval recon -m " + model_ + " --data " + data_ + " --subset 40:48");
  EXPECT_NE(t.out.find("PSNR"), std::string::npos);
  EXPECT_NE(t.out.find("1..2"), std::string::npos);
}

TEST_F(CliEngine, CorruptModelFilesAreClearErrors) {
  std::ifstream in(model_, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string truncated = *dir_ / "cut.hrvqm", flipped = *dir_ / "flip.hrvqm", foreign = *dir_ / "foreign.hrvqm";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string f = bytes;
  f[f.size() / 2] ^= 0x10;
  std::ofstream(flipped, std::ios::binary) << f;
  std::ofstream(foreign, std::ios::binary) << "PK\x03\x04 not a model";
  for (const auto& path : {truncated, flipped, foreign}) {
    auto r = test::run(kHrvq + " eval recon -m " + path + " --data " + data_);
    EXPECT_EQ(r.exit_code, 1) << path << ": " << r.err;
    EXPECT_EQ(r.signal, 0);
    EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  }
  auto info = test::run(kHrvq + " info " + flipped);
  // info still describes a damaged file, and says so.
  if (info.exit_code == 0) EXPECT_NE(info.out.find("MISMATCH"), std::string::npos) << info.out;
}

TEST_F(CliEngine, BadArgumentsFailCleanly) {
  auto missing = test::run(kHrvq + " train --preset mnist --data " + *dir_ / "absent" + " -o " + *dir_ / "x.hrvqm");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("absent"), std::string::npos) << missing.err;
  auto preset = test::run(kHrvq + " train --preset nope --data " + data_ + " -o " + *dir_ / "x.hrvqm");
  EXPECT_EQ(preset.exit_code, 1);
  EXPECT_NE(preset.err.find("unknown preset"), std::string::npos);
  auto quant = test::run(kHrvq + " train --quantizer zz --data " + data_ + " -o " + *dir_ / "x.hrvqm");
  EXPECT_NE(quant.exit_code, 0);
  auto subset = test::run(kHrvq + " eval recon -m " + model_ + " --data " + data_ + " --subset 50:10");
  EXPECT_EQ(subset.exit_code, 1) << subset.err;
}

TEST_F(CliEngine, ReconFidWithoutWeightsSaysWhereToGetThem) {
  const std::string home = dir_->path.string();
  auto r = test::run("HRVQ_INCEPTION= TORCH_HOME=" + home + " XDG_CACHE_HOME=" + home + " HOME=" + home + " " + kHrvq +
                     " eval recon --fid -m " + model_ + " --data " + data_);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("pt_inception-2015-12-05-6726825d.pth"), std::string::npos) << r.err;
}

TEST_F(CliEngine, CudaWithoutAGpuIsAClearError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  auto r = test::run(kHrvq + " eval recon --device cuda -m " + model_ + " --data " + data_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no CUDA device"), std::string::npos) << r.err;
  // auto falls back to the CPU.
  auto a = test::run(kHrvq + " eval recon --device auto -m " + model_ + " --data " + data_ + " --subset 40:48 --json");
  EXPECT_EQ(a.exit_code, 0) << a.err;
}

}  // namespace
}  // namespace hrvq
