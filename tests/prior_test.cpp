// The code prior: causality of the gated stacks, use of the earlier layers, learning,
// seeded sampling, prior files and exact resume.
#include <gtest/gtest.h>

#include <cmath>

#include "engine_support.hpp"
#include "adam.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/model_file.hpp"
#include "hrvq/prior.hpp"
#include "model_io.hpp"
#include "prior.hpp"

namespace hrvq {
namespace {

PriorShape small_shape(int layers, int64_t m, int64_t h, int64_t w, bool hierarchical = true) {
  PriorShape s;
  s.layers = layers;
  s.codes = m;
  s.grids.assign(layers, {h, w});
  s.hierarchical = hierarchical;
  s.image_height = static_cast<int>(h * 4);
  s.image_width = static_cast<int>(w * 4);
  s.image_channels = 1;
  return s;
}

PriorConfig small_config(int channels = 16, int depth = 3, int kernel = 3) {
  PriorConfig c;
  c.channels = channels;
  c.depth = depth;
  c.kernel = kernel;
  c.embed = 8;
  c.cond_channels = 16;
  c.cond_blocks = 1;
  return c;
}

// For every position p and every q: the logits at p change when the code at q changes
// exactly when q comes before p in raster order (with enough depth to see the whole past).
void check_causal(int depth, int kernel, bool expect_full_past) {
  torch::manual_seed(3);
  const int64_t m = 5, h = 5, w = 6;
  auto shape = small_shape(1, m, h, w);
  LayerPrior net(shape, 0, small_config(12, depth, kernel));
  torch::NoGradGuard no_grad;
  auto x = torch::randint(0, m, {1, h, w}, torch::kInt64);
  auto cond = net->condition({}, 1, torch::kCPU);
  auto base = net->logits(x, cond);
  for (int64_t q = 0; q < h * w; ++q) {
    auto y = x.clone();
    y[0][q / w][q % w] = (x[0][q / w][q % w].item<int64_t>() + 1) % m;
    auto changed = (net->logits(y, cond) - base).abs().amax(1)[0];  // (h, w)
    for (int64_t p = 0; p < h * w; ++p) {
      float d = changed[p / w][p % w].item<float>();
      if (p <= q)
        EXPECT_EQ(d, 0.0f) << "logits at " << p << " depend on the code at " << q;
      else if (expect_full_past)
        EXPECT_GT(d, 0.0f) << "logits at " << p << " do not see the code at " << q << " (blind spot)";
    }
  }
}

TEST(PriorCausal, GatedStacksSeeExactlyThePast) { check_causal(6, 3, true); }

TEST(PriorCausal, WideKernelsAndOneLayerStayCausal) {
  check_causal(2, 5, false);
  check_causal(1, 3, false);
}

TEST(PriorCausal, GradientOfALogitReachesNoLaterInput) {
  torch::manual_seed(4);
  auto shape = small_shape(1, 4, 4, 4);
  LayerPrior net(shape, 0, small_config(8, 3));
  auto x = torch::randint(0, 4, {1, 4, 4}, torch::kInt64);
  auto cond = net->condition({}, 1, torch::kCPU);
  // Gradient with respect to the embedded input: hook it through a leaf copy of the
  // embedding table, indexed as the network does.
  for (auto& p : net->named_parameters())
    if (p.key() == "input_embed.weight") p.value().mutable_grad() = torch::Tensor();
  auto lg = net->logits(x, cond);
  lg[0][1][2][1].backward();  // logit of symbol 1 at (2, 1)
  torch::Tensor grad;
  for (auto& p : net->named_parameters())
    if (p.key() == "input_embed.weight") grad = p.value().grad();
  ASSERT_TRUE(grad.defined());
  // Rows of the embedding table used only at (2, 1) or later may get no gradient.
  std::vector<bool> used_before(4, false);
  for (int64_t k = 0; k < 2 * 4 + 1; ++k) used_before[x[0][k / 4][k % 4].item<int64_t>()] = true;
  for (int64_t s = 0; s < 4; ++s)
    if (!used_before[s]) EXPECT_EQ(grad[s].abs().sum().item<float>(), 0.0f) << "symbol " << s;
}

TEST(PriorConditioning, EarlierLayersChangeLaterLogits) {
  torch::manual_seed(5);
  torch::NoGradGuard no_grad;
  for (bool hierarchical : {true, false}) {
    CodePrior prior(small_shape(3, 4, 4, 4, hierarchical), small_config());
    std::vector<torch::Tensor> maps;
    for (int l = 0; l < 3; ++l) maps.push_back(torch::randint(0, 4, {2, 4, 4}, torch::kInt64));
    auto base = prior->layer_logits(2, maps);
    for (int changed_layer : {0, 1}) {
      auto other = maps;
      other[changed_layer] = maps[changed_layer].clone();
      other[changed_layer][0][3][3] = (maps[changed_layer][0][3][3].item<int64_t>() + 1) % 4;
      auto d = (prior->layer_logits(2, other) - base).abs();
      // The conditioning network is not causal: the whole neighbourhood may change,
      // including the very first position of the later layer.
      EXPECT_GT(d[0].amax().item<float>(), 0.0f) << "layer " << changed_layer + 1 << " unused";
      EXPECT_EQ(d[1].amax().item<float>(), 0.0f) << "images of a batch interact";
    }
  }
}

TEST(PriorConditioning, CoarserEarlierLayersAreResized) {
  torch::manual_seed(6);
  torch::NoGradGuard no_grad;
  PriorShape s = small_shape(2, 6, 4, 4, false);
  s.grids[0] = {2, 2};  // vq2: the top map is half the bottom one
  CodePrior prior(s, small_config());
  std::vector<torch::Tensor> maps{torch::randint(0, 6, {1, 2, 2}, torch::kInt64),
                                  torch::randint(0, 6, {1, 4, 4}, torch::kInt64)};
  auto base = prior->layer_logits(1, maps);
  EXPECT_EQ(base.sizes(), (std::vector<int64_t>{1, 6, 4, 4}));
  maps[0][0][0][0] = (maps[0][0][0][0].item<int64_t>() + 1) % 6;
  EXPECT_GT((prior->layer_logits(1, maps) - base).abs().amax().item<float>(), 0.0f);
  auto gen = make_generator(1);
  auto sampled = prior->sample(2, 1.0, torch::kCPU, gen);
  EXPECT_EQ(sampled[0].sizes(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(sampled[1].sizes(), (std::vector<int64_t>{2, 4, 4}));
}

// Synthetic code maps with structure a prior can find: layer 1 is a diagonal pattern with
// a random phase per image (predictable after the first code), layer 2 a function of
// layer 1 plus an occasional random code.
std::vector<torch::Tensor> synthetic_maps(int64_t n, int64_t m, int64_t h, int64_t w) {
  auto rows = torch::arange(h).view({1, h, 1}), cols = torch::arange(w).view({1, 1, w});
  auto phase = torch::randint(0, m, {n, 1, 1}, torch::kInt64);
  auto l1 = (rows + cols + phase).remainder(m);
  auto l2 = (l1 * 3 + 1).remainder(m);
  auto noise = torch::rand({n, h, w}) < 0.05;
  l2 = torch::where(noise, torch::randint(0, m, {n, h, w}, torch::kInt64), l2);
  return {l1, l2};
}

TEST(PriorTraining, LearnsSyntheticCodesWellBelowUniform) {
  torch::manual_seed(7);
  const int64_t m = 8, h = 5, w = 5;
  CodePrior prior(small_shape(2, m, h, w), small_config(16, 3));
  auto data = synthetic_maps(256, m, h, w);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& p : prior->named_parameters()) params.emplace_back(p.key(), p.value());
  Adam adam(params, 3e-3);
  const double codes = 32.0 * 2 * h * w;
  for (int step = 0; step < 150; ++step) {
    auto idx = torch::randint(0, 256, {32}, torch::kInt64);
    std::vector<torch::Tensor> batch{data[0].index_select(0, idx), data[1].index_select(0, idx)};
    auto loss = prior->nll_sum(batch).sum() / codes;
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  torch::NoGradGuard no_grad;
  auto held = synthetic_maps(128, m, h, w);
  auto nll = prior->nll_sum(held) / (128.0 * h * w) / std::log(2.0);
  const double uniform = std::log2(static_cast<double>(m));
  EXPECT_LT(nll[0].item<double>(), 0.35 * uniform) << "layer 1";
  EXPECT_LT(nll[1].item<double>(), 0.35 * uniform) << "layer 2";
}

TEST(PriorSampling, SameSeedSameSamplesOtherSeedOthers) {
  torch::manual_seed(8);
  CodePrior prior(small_shape(2, 6, 4, 5), small_config());
  prior->eval();
  auto draw = [&](uint64_t seed) {
    auto gen = make_generator(seed);
    return prior->sample(3, 1.0, torch::kCPU, gen);
  };
  auto a = draw(11), b = draw(11), c = draw(12);
  ASSERT_EQ(a.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(a[l].sizes(), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_TRUE(torch::equal(a[l], b[l]));
    EXPECT_GE(a[l].min().item<int64_t>(), 0);
    EXPECT_LT(a[l].max().item<int64_t>(), 6);
  }
  EXPECT_FALSE(torch::equal(a[0], c[0]) && torch::equal(a[1], c[1]));
  // The global RNG plays no part.
  torch::manual_seed(99);
  auto d = draw(11);
  EXPECT_TRUE(torch::equal(a[0], d[0]) && torch::equal(a[1], d[1]));
}

TEST(PriorSampling, LowTemperatureIsNearlyGreedy) {
  torch::manual_seed(9);
  CodePrior prior(small_shape(1, 6, 3, 3), small_config());
  prior->eval();
  auto gen1 = make_generator(1), gen2 = make_generator(2);
  auto a = prior->sample(4, 1e-4, torch::kCPU, gen1), b = prior->sample(4, 1e-4, torch::kCPU, gen2);
  EXPECT_TRUE(torch::equal(a[0], b[0]));
}

// A tiny autoencoder file (untrained weights: the codes are arbitrary but fixed), with
// uniform code counts so the count model costs exactly log2(m) bits per code.
std::string write_tiny_model(const test::TempDir& dir, const std::string& name, uint64_t seed) {
  ModelConfig c;
  c.image_channels = 1; c.channels = 8; c.res_blocks = 1; c.res_channels = 4; c.embed_dim = 4;
  c.downsample = 4; c.layers = 2; c.codes = 4;
  TrainConfig t;
  t.image_size = 16; t.fit = "resize";
  torch::manual_seed(seed);
  HrvqModel net(c);
  ModelFile f;
  write_model_config(c, f.metadata);
  write_train_config(t, f.metadata);
  store_weights(net, f);
  std::vector<std::vector<uint64_t>> counts;
  for (int64_t rows : c.layer_table_sizes()) counts.emplace_back(static_cast<size_t>(rows), 1);
  store_code_counts(counts, f);
  std::string path = dir / name;
  save_model_file(f, path);
  return path;
}

TEST(PriorFile, RoundTripsAndRefusesAnotherModel) {
  test::TempDir dir;
  std::string model_path = write_tiny_model(dir, "a.hrvqm", 1);
  std::string other_path = write_tiny_model(dir, "b.hrvqm", 2);
  LoadedModel model = load_model(model_path, torch::kCPU);
  PriorShape shape = prior_shape_for(model);
  EXPECT_EQ(shape.layers, 2);
  EXPECT_EQ(shape.grids[0], (std::pair<int64_t, int64_t>{4, 4}));
  torch::manual_seed(10);
  PriorConfig cfg = small_config(8, 2);
  CodePrior prior(shape, cfg);
  ModelFile f;
  write_prior_metadata(shape, cfg, model.file.fingerprint, f.metadata);
  store_prior_weights(prior, f);
  for (const auto& [key, value] : f.metadata.entries()) EXPECT_EQ(key.rfind("prior.", 0), 0u) << key;
  std::string prior_path = dir / "p.hrvqm";
  save_model_file(f, prior_path);

  LoadedPrior loaded = load_prior(prior_path, model, torch::kCPU);
  std::vector<torch::Tensor> maps{torch::randint(0, 4, {2, 4, 4}, torch::kInt64), torch::randint(0, 4, {2, 4, 4}, torch::kInt64)};
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(prior->layer_logits(1, maps), loaded.net->layer_logits(1, maps)));

  LoadedModel other = load_model(other_path, torch::kCPU);
  try {
    load_prior(prior_path, other, torch::kCPU);
    FAIL() << "a prior loaded with another model";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(prior_path, 0), 0u) << msg;
    EXPECT_NE(msg.find("fingerprint"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_THROW(load_prior(model_path, model, torch::kCPU), Error);  // an autoencoder is not a prior
}

PriorTrainOptions tiny_prior_run(const test::TempDir& dir, const std::string& model, const std::string& data,
                                 const std::string& name) {
  PriorTrainOptions o;
  o.model = model;
  o.data = data;
  o.subset = parse_subset("0:40");
  o.has_holdout = true;
  o.holdout = parse_subset("40:56");
  o.output = dir / name;
  o.prior = small_config(8, 2);
  o.steps = 8;
  o.batch_size = 8;
  o.lr = 3e-3;
  o.checkpoint_every = 3;
  o.log_every = 2;
  o.device = "cpu";
  o.quiet = true;
  o.handle_sigint = false;
  return o;
}

TEST(PriorTrain, ResumedRunEndsWithTheSameWeights) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 56);
  std::string model = write_tiny_model(dir, "model.hrvqm", 1);
  auto straight = tiny_prior_run(dir, model, data, "straight.hrvqm");
  auto full = train_prior(straight);
  EXPECT_EQ(full.steps, 8);
  EXPECT_EQ(full.train_images, 40);
  ASSERT_TRUE(full.evaluated);
  EXPECT_EQ(full.heldout.images, 16);
  ASSERT_EQ(full.heldout.bits_per_code.size(), 2u);
  EXPECT_TRUE(full.heldout.has_counts);
  // Uniform counts: the count model spends exactly log2(4) = 2 bits on every code.
  for (double b : full.heldout.count_bits_per_code) EXPECT_NEAR(b, 2.0, 1e-9);
  EXPECT_NEAR(full.heldout.bits_per_image,
              16 * (full.heldout.bits_per_code[0] + full.heldout.bits_per_code[1]), 1e-6);
  EXPECT_TRUE(file_exists(straight.output + ".log.jsonl"));

  auto interrupted = tiny_prior_run(dir, model, data, "resumed.hrvqm");
  interrupted.stop_after = 5;  // mid-epoch (5 batches of 8 per epoch), between checkpoints
  auto first = train_prior(interrupted);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.steps, 5);
  EXPECT_FALSE(file_exists(interrupted.output));
  auto resume = tiny_prior_run(dir, model, data, "resumed.hrvqm");
  resume.resume = true;
  resume.prior.channels = 99;  // ignored: the checkpoint's configuration wins
  auto second = train_prior(resume);
  EXPECT_EQ(second.steps, 8);

  auto a = load_model_file(straight.output).tensors, b = load_model_file(resume.output).tensors;
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(a[i].data == b[i].data) << a[i].name << " differs after resume";
  }

  // The prior file works for sampling images of the model's size, reproducibly.
  SampleOptions so;
  so.model = model;
  so.prior = straight.output;
  so.count = 3;
  so.batch_size = 2;
  so.seed = 5;
  so.device = "cpu";
  auto collect = [&](const SampleOptions& opt) {
    std::vector<Image> out;
    auto r = sample_images(opt, [&](std::vector<Image>&& batch) {
      for (auto& im : batch) out.push_back(std::move(im));
    });
    EXPECT_EQ(r.images, 3);
    return out;
  };
  auto s1 = collect(so), s2 = collect(so);
  ASSERT_EQ(s1.size(), 3u);
  EXPECT_EQ(s1[0].width, 16);
  EXPECT_EQ(s1[0].channels, 1);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(s1[i].pixels, s2[i].pixels);
  Image grid = image_grid(s1, 2);
  EXPECT_EQ(grid.width, 16 * 2 + 2);
  EXPECT_EQ(grid.height, 16 * 2 + 2);

  // Without Inception weights, eval gen fails with the FID module's message, before sampling.
  GenFidOptions go;
  go.sample = so;
  go.reference = data;
  go.inception = dir / "no-such-inception.pth";
  try {
    evaluate_generation_fid(go);
    FAIL() << "FID without weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--inception"), std::string::npos) << e.what();
  }
}

TEST(PriorTrain, DivergenceStopsAndKeepsTheLastCheckpoint) {
  test::TempDir dir;
  std::string data = dir / "mnist.gz";
  test::write_mnist_gz(data, 24);
  std::string model = write_tiny_model(dir, "model.hrvqm", 1);
  auto o = tiny_prior_run(dir, model, data, "nan.hrvqm");
  o.subset = Subset{};
  o.has_holdout = false;
  o.lr = 1e30;  // the weights blow up after the first steps
  o.steps = 40;
  o.checkpoint_every = 1;
  try {
    train_prior(o);
    FAIL() << "a diverged run finished";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(file_exists(o.output + ".ckpt"));
  EXPECT_FALSE(file_exists(o.output));
}

}  // namespace
}  // namespace hrvq
