// The hierarchical residual quantizer against the paper's equations 3-6.
#include <gtest/gtest.h>

#include <limits>

#include "code_search.hpp"
#include "model.hpp"
#include "quantizer.hpp"

namespace hrvq {
namespace {

// The selection rule written as plainly as possible: at layer i a position searches only
// the m rows of the codebook chosen by its layer-(i-1) code.
std::vector<std::vector<int64_t>> brute_force_codes(const ResidualQuantizer& q, const torch::Tensor& z) {
  int n = q->layers(), m = q->codes();
  auto zd = z.to(torch::kFloat64);
  std::vector<std::vector<int64_t>> codes(n, std::vector<int64_t>(z.size(0)));
  for (int64_t pos = 0; pos < z.size(0); ++pos) {
    auto residual = zd[pos].clone();
    int64_t parent = 0;
    for (int i = 0; i < n; ++i) {
      auto table = q->codebook(i).to(torch::kFloat64);
      int64_t base = q->kind() == QuantizerKind::Hr ? parent * m : 0;
      double best = std::numeric_limits<double>::infinity();
      int64_t best_local = -1;
      for (int64_t j = 0; j < m; ++j) {
        double d = (residual - table[base + j]).pow(2).sum().item<double>();
        if (d < best) best = d, best_local = j;
      }
      codes[i][pos] = best_local;
      residual = residual - table[base + best_local];
      parent = base + best_local;
    }
  }
  return codes;
}

ResidualQuantizer make_quantizer(QuantizerKind kind, int n, int m, int d, uint64_t seed) {
  torch::manual_seed(seed);
  ResidualQuantizer q(kind, n, m, d, 0.25, 0.25, false, 0.99);
  // Codebooks of decreasing scale, like trained residual codebooks, so that the
  // per-parent choice differs from a flat search.
  torch::NoGradGuard no_grad;
  for (int i = 0; i < q->layers(); ++i) q->codebook(i).copy_(torch::randn_like(q->codebook(i)) / (1 << i));
  q->eval();
  return q;
}

TEST(Quantizer, HierarchicalSelectionMatchesBruteForce) {
  for (auto [n, m, d] : {std::tuple{3, 4, 5}, std::tuple{2, 8, 3}, std::tuple{4, 3, 2}}) {
    auto q = make_quantizer(QuantizerKind::Hr, n, m, d, 7 + n);
    ASSERT_EQ(q->codebook(n - 1).size(0), static_cast<int64_t>(std::pow(m, n)));
    auto z = torch::randn({200, d});
    auto result = q->forward(z);
    auto expected = brute_force_codes(q, z);
    for (int i = 0; i < n; ++i) {
      auto got = result.local[i].contiguous();
      for (int64_t p = 0; p < z.size(0); ++p) ASSERT_EQ(got[p].item<int64_t>(), expected[i][p]) << "layer " << i << " pos " << p;
      // The global row is parent * m + local, and e^i is exactly that row.
      EXPECT_TRUE(torch::equal(result.vectors[i], q->codebook(i).index_select(0, result.global[i])));
    }
  }
}

TEST(Quantizer, FlatResidualSelectionMatchesBruteForce) {
  auto q = make_quantizer(QuantizerKind::Rvq, 3, 6, 4, 3);
  auto z = torch::randn({150, 4});
  auto result = q->forward(z);
  auto expected = brute_force_codes(q, z);
  for (int i = 0; i < 3; ++i)
    for (int64_t p = 0; p < z.size(0); ++p) ASSERT_EQ(result.local[i][p].item<int64_t>(), expected[i][p]);
}

TEST(Quantizer, HierarchyRestrictsTheSearch) {
  // A position's layer-2 code must come from its parent's block even when a row of another
  // block is nearer: the search is n*m, not m^n.
  ResidualQuantizer q(QuantizerKind::Hr, 2, 2, 1, 0.25, 0.25, false, 0.99);
  q->eval();
  torch::NoGradGuard no_grad;
  q->codebook(0).copy_(torch::tensor({{0.0f}, {10.0f}}));
  q->codebook(1).copy_(torch::tensor({{5.0f}, {6.0f}, {0.1f}, {0.2f}}));  // parent 0: rows 0,1; parent 1: rows 2,3
  auto result = q->forward(torch::tensor({{0.15f}}));
  EXPECT_EQ(result.local[0].item<int64_t>(), 0);
  EXPECT_EQ(result.global[1].item<int64_t>(), 0);  // 5.0 from its own block, though 0.1/0.2 are nearer
}

TEST(Quantizer, LossTermsMatchHandComputation) {
  const double beta = 0.3, beta0 = 0.7;
  torch::manual_seed(11);
  ResidualQuantizer q(QuantizerKind::Hr, 3, 4, 5, beta, beta0, false, 0.99);
  q->eval();
  auto z = torch::randn({40, 5});
  auto r = q->forward(z);
  // eq. 5-6 by hand, every squared norm as a mean over elements.
  auto zd = z.to(torch::kFloat64);
  auto xi = zd.clone();
  auto ec = torch::zeros_like(zd);
  double codebook = 0, commitment = 0;
  for (int i = 0; i < 3; ++i) {
    auto e = r.vectors[i].detach().to(torch::kFloat64);
    double se = (xi - e).pow(2).mean().item<double>();
    codebook += se;
    commitment += beta * se;
    xi = xi - e;
    ec = ec + e;
  }
  double sec = (zd - ec).pow(2).mean().item<double>();
  codebook += sec;
  commitment += beta0 * sec;
  EXPECT_NEAR(r.codebook_loss.item<double>(), codebook, 1e-5 * codebook);
  EXPECT_NEAR(r.commitment_loss.item<double>(), commitment, 1e-5 * commitment);
  EXPECT_NEAR(r.loss.item<double>(), codebook + commitment, 1e-5 * (codebook + commitment));
}

TEST(Quantizer, VqLossIsEquationTwo) {
  torch::manual_seed(5);
  ResidualQuantizer q(QuantizerKind::Vq, 1, 16, 3, 0.25, 0.25, false, 0.99);
  q->eval();
  auto z = torch::randn({30, 3});
  auto r = q->forward(z);
  double se = (z - r.vectors[0].detach()).pow(2).mean().item<double>();
  EXPECT_NEAR(r.codebook_loss.item<double>(), se, 1e-6);
  EXPECT_NEAR(r.commitment_loss.item<double>(), 0.25 * se, 1e-6);
}

TEST(Quantizer, CodebookTermsMoveOnlyThePickedCodes) {
  torch::manual_seed(3);
  ResidualQuantizer q(QuantizerKind::Hr, 3, 4, 5, 0.25, 0.25, false, 0.99);
  q->eval();
  auto z = torch::randn({12, 5}).requires_grad_(true);
  auto r = q->forward(z);
  r.codebook_loss.backward();
  // sg[xi]: the codebook terms give the encoder output nothing.
  EXPECT_TRUE(!z.grad().defined() || z.grad().abs().max().item<double>() == 0.0);
  for (int i = 0; i < 3; ++i) {
    auto g = q->codebook(i).grad();
    ASSERT_TRUE(g.defined());
    auto picked = torch::zeros({q->codebook(i).size(0)}, torch::kBool).index_fill_(0, r.global[i], true);
    EXPECT_GT(g.index({picked}).abs().sum().item<double>(), 0.0) << "layer " << i;
    EXPECT_EQ(g.index({picked.logical_not()}).abs().sum().item<double>(), 0.0) << "layer " << i;
  }
}

TEST(Quantizer, CommitmentTermsFollowTheStopGradients) {
  const double beta = 0.25, beta0 = 0.5;
  torch::manual_seed(4);
  ResidualQuantizer q(QuantizerKind::Hr, 3, 4, 5, beta, beta0, false, 0.99);
  q->eval();
  auto z = torch::randn({12, 5}).requires_grad_(true);
  auto r = q->forward(z);
  r.commitment_loss.backward();
  // beta_i ||sg[e^i] - xi^(i-1)||^2 with xi^(i-1) = z - sum_{j<i} e^j: the gradient reaches z
  // and the codebooks of earlier layers, never the last layer's codebook (it only
  // appears under sg).
  auto last = q->codebook(2).grad();
  EXPECT_TRUE(!last.defined() || last.abs().max().item<double>() == 0.0);
  auto first = q->codebook(0).grad();
  ASSERT_TRUE(first.defined());
  EXPECT_GT(first.abs().sum().item<double>(), 0.0);
  // d/dz = 2/(ND) [ beta * sum_i (xi^(i-1) - e^i) + beta0 (z - e_C) ]
  double scale = 2.0 / static_cast<double>(z.numel());
  auto zd = z.detach().to(torch::kFloat64);
  auto xi = zd.clone();
  auto ec = torch::zeros_like(zd);
  auto expected = torch::zeros_like(zd);
  for (int i = 0; i < 3; ++i) {
    auto e = r.vectors[i].detach().to(torch::kFloat64);
    expected += beta * (xi - e);
    xi = xi - e;
    ec = ec + e;
  }
  expected = scale * (expected + beta0 * (zd - ec));
  EXPECT_TRUE(torch::allclose(z.grad().to(torch::kFloat64), expected, 1e-5, 1e-7));
}

TEST(Quantizer, ReconstructionGradientBypassesTheCodebooks) {
  ModelConfig c;
  c.image_channels = 1; c.channels = 8; c.res_blocks = 1; c.res_channels = 4; c.embed_dim = 4;
  c.downsample = 2; c.layers = 2; c.codes = 4;
  torch::manual_seed(1);
  HrvqModel model(c);
  model->eval();
  auto x = torch::rand({2, 1, 8, 8});
  auto r = model->forward(x);
  r.recon_loss.backward();
  // Straight-through: the decoder's gradient is copied to the encoder output; the codes
  // themselves learn only from eq. 5-6.
  for (const auto& p : model->named_parameters()) {
    bool codebook = p.key().find("codebook") != std::string::npos;
    double g = p.value().grad().defined() ? p.value().grad().abs().sum().item<double>() : 0.0;
    if (codebook) EXPECT_EQ(g, 0.0) << p.key();
  }
  EXPECT_GT(model->named_parameters()["encoder.net.0.weight"].grad().abs().sum().item<double>(), 0.0);
}

TEST(Quantizer, EmaMovesCodesTowardsTheirResiduals) {
  torch::manual_seed(8);
  ResidualQuantizer q(QuantizerKind::Hr, 2, 2, 3, 0.25, 0.25, true, 0.5);
  q->eval();
  auto z = torch::randn({64, 3});
  auto r = q->forward(z);
  auto before = q->codebook(0).clone();
  q->ema_update(r);
  // Row 0's new value lies between its old value and the mean of the residuals it got.
  auto mask = r.global[0] == 0;
  if (mask.sum().item<int64_t>() > 0) {
    auto mean = r.residuals[0].index({mask}).mean(0);
    double d_before = (before[0] - mean).norm().item<double>();
    double d_after = (q->codebook(0)[0] - mean).norm().item<double>();
    EXPECT_LT(d_after, d_before);
  }
  // EMA codebooks are not trained by gradients.
  EXPECT_FALSE(q->codebook(0).requires_grad());
}

TEST(Quantizer, DeadCodesAreReseededUnderTheirParent) {
  torch::manual_seed(9);
  ResidualQuantizer q(QuantizerKind::Hr, 2, 4, 3, 0.25, 0.25, false, 0.99);
  q->eval();
  auto z = torch::randn({200, 3});
  auto r = q->forward(z);
  q->mark_used(r, 0);
  std::mt19937_64 rng(1);
  auto result = q->forward(z);
  int64_t reset = q->reseed_dead(result, 100, 10, rng);  // nothing used since step 0
  EXPECT_GT(reset, 0);
  // Every reseeded layer-2 row now equals a residual of a position routed to its parent.
  auto table = q->codebook(1);
  for (int64_t row = 0; row < table.size(0); ++row) {
    auto same_parent = result.global[0] == row / 4;
    if (same_parent.sum().item<int64_t>() == 0) continue;
    auto candidates = result.residuals[1].index({same_parent});
    auto dist = (candidates - table[row]).pow(2).sum(1).min().item<double>();
    EXPECT_LT(dist, 1e-10) << "row " << row;
  }
}

TEST(Quantizer, LookupInvertsEncoding) {
  auto q = make_quantizer(QuantizerKind::Hr, 3, 5, 4, 2);
  auto z = torch::randn({30, 4});
  auto r = q->forward(z);
  for (int k = 1; k <= 3; ++k) EXPECT_TRUE(torch::allclose(q->lookup(r.local, k), r.sum(k)));
}

// The inference search (one fused pass over every layer) picks what training's forward
// picks, for the hierarchy, flat residual VQ and a flat codebook too large to fuse.
TEST(Quantizer, InferenceSearchMatchesTrainingSearch) {
  for (auto [kind, n, m, d] : {std::tuple{QuantizerKind::Hr, 4, 8, 16}, std::tuple{QuantizerKind::Rvq, 3, 6, 4},
                               std::tuple{QuantizerKind::Vq, 1, 100, 8}}) {
    auto q = make_quantizer(kind, n, m, d, 11);
    auto z = torch::randn({3000, d});
    auto trained = q->forward(z).local;
    auto inferred = q->encode_codes(z);
    ASSERT_EQ(inferred.size(), trained.size());
    for (size_t i = 0; i < trained.size(); ++i)
      EXPECT_TRUE(torch::equal(inferred[i], trained[i])) << quantizer_kind_name(kind) << " layer " << i;
    auto two = q->encode_codes(z, 2);
    EXPECT_EQ(two.size(), std::min<size_t>(2, trained.size()));
  }
}

// The fused kernel against the gather + bmm formulation it replaces: the same argmin
// except where two candidates are equally near to within float rounding.
TEST(Quantizer, FusedSearchAgreesWithMatrixProducts) {
  torch::manual_seed(5);
  const int64_t m = 8, d = 16, parents = 64, N = 20000;
  auto table = torch::randn({parents * m, d});
  auto norms = table.pow(2).sum(1);
  auto x = torch::randn({N, d});
  auto parent = torch::randint(parents, {N}, torch::kInt64);
  ASSERT_TRUE(fused_search_applies(table, x, m));
  auto fused = nearest_codes(table, norms, x, parent, m);
  auto cand = table.view({parents, m, d}).index_select(0, parent);
  auto dist = norms.view({parents, m}).index_select(0, parent) - 2 * torch::bmm(cand, x.unsqueeze(2)).squeeze(2);
  auto reference = dist.argmin(1);
  auto differ = fused.ne(reference).nonzero().view({-1});
  EXPECT_LE(differ.size(0), N / 1000);
  for (int64_t k = 0; k < differ.size(0); ++k) {
    const int64_t p = differ[k].item<int64_t>();
    const double a = dist[p][fused[p]].item<double>(), b = dist[p][reference[p]].item<double>();
    EXPECT_NEAR(a, b, 1e-4 * (1 + std::abs(b))) << "position " << p;
  }
  // One codebook for all: the parent is ignored.
  auto flat = table.slice(0, 0, m);
  auto single = nearest_codes(flat, norms.slice(0, 0, m), x, torch::Tensor(), m);
  auto flat_ref = (norms.slice(0, 0, m).unsqueeze(0) - 2 * torch::matmul(x, flat.t())).argmin(1);
  EXPECT_LE(single.ne(flat_ref).sum().item<int64_t>(), N / 1000);
  EXPECT_FALSE(fused_search_applies(torch::randn({100, d}), x, 100)) << "flat K=100 belongs to BLAS";
}

// A large flat codebook is searched over blocks of codes (ResidualQuantizer's
// select_codes); the code found must be the one argmin over all K distances finds,
// up to float-rounding ties, and ties must keep the earlier code.
TEST(Quantizer, BlockedFlatSearchIsTheWholeArgmin) {
  torch::manual_seed(9);
  const int64_t K = 1000, d = 16, N = 5000;
  ResidualQuantizer q(QuantizerKind::Vq, 1, K, d, 0.25, 0.25, false, 0.99);
  q->codebook(0).data().normal_();
  auto x = torch::randn({N, d});
  auto found = q->encode_codes(x)[0];
  const auto& table = q->codebook(0);
  auto dist = table.pow(2).sum(1).unsqueeze(0) - 2 * torch::matmul(x, table.t());
  auto reference = dist.argmin(1);
  auto differ = found.ne(reference).nonzero().view({-1});
  EXPECT_LE(differ.size(0), N / 1000);
  for (int64_t k = 0; k < differ.size(0); ++k) {
    const int64_t p = differ[k].item<int64_t>();
    const double a = dist[p][found[p]].item<double>(), b = dist[p][reference[p]].item<double>();
    EXPECT_NEAR(a, b, 1e-4 * (1 + std::abs(b))) << "position " << p;
  }
  // Exact ties across blocks: every code the same vector, so code 0 wins everywhere.
  // Small integers keep every dot product exact whatever order the BLAS kernel sums in
  // (with random floats, identical columns can round differently on some CPUs).
  q->codebook(0).data().copy_(torch::ones({K, d}));
  auto xi = torch::randint(-4, 5, {N, d}).to(torch::kFloat32);
  EXPECT_EQ(q->encode_codes(xi)[0].max().item<int64_t>(), 0);
}

}  // namespace
}  // namespace hrvq
