// The paper's Table 2 on this CPU (issue 9): seconds to reconstruct (encode, quantize,
// decode) a set of images with each model, and the quantizer search alone on latents of
// the same shape.
//
//   recon_speed --model M.hrvqm [--model ...] (--data IDX --subset A:B | --random N [--size S])
//               [--batch 64] [--runs 5] [--threads 1] [--search-positions P]
//               [--search-dim D] [--json FILE]
//
// Reconstruct: every image once through HrvqModel::encode then ::decode (what `hrvq
// eval recon` runs), batches of --batch, under no_grad; a warm-up batch first; the
// median and spread of --runs passes, the models interleaved pass by pass so that load
// changes hit them alike. --random N makes N uniform-noise images of --size (32) and the
// first model's channels instead of reading a dataset (the time does not depend on the
// pixels).
//
// Search alone: P random latents of dimension D (default: 10,000 images x 49 positions,
// D = 32, the mnist preset's) quantized by the greedy search of hr n=3 m=8 (3 x 8
// distances per position), flat VQ with K = 512 and with K = 4,096, each with random
// codebooks (the search's cost does not depend on their values), interleaved, medians.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../src/model.hpp"
#include "../src/model_io.hpp"
#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/runtime.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Args {
  std::vector<std::string> models;
  std::string data, subset, json;
  int random = 0, size = 32, batch = 64, runs = 5, threads = 1;
  int64_t search_positions = 10000 * 49, search_dim = 32;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw hrvq::Error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--model") a.models.push_back(value());
    else if (k == "--data") a.data = value();
    else if (k == "--subset") a.subset = value();
    else if (k == "--random") a.random = std::stoi(value());
    else if (k == "--size") a.size = std::stoi(value());
    else if (k == "--batch") a.batch = std::stoi(value());
    else if (k == "--runs") a.runs = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--search-positions") a.search_positions = std::stoll(value());
    else if (k == "--search-dim") a.search_dim = std::stoll(value());
    else if (k == "--json") a.json = value();
    else throw hrvq::Error("unknown option " + k + " (see the comment at the top of bench/recon_speed.cpp)");
  }
  if (a.models.empty()) throw hrvq::Error("give at least one --model");
  if (a.data.empty() == (a.random == 0)) throw hrvq::Error("give exactly one of --data and --random N");
  if (a.batch < 1 || a.runs < 1) throw hrvq::Error("--batch and --runs must be positive");
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  hrvq::init_runtime(a.threads);
  torch::NoGradGuard no_grad;
  std::vector<hrvq::LoadedModel> models;
  for (const auto& path : a.models) {
    models.push_back(hrvq::load_model(path, torch::kCPU));
    models.back().net->eval();
  }
  const auto& first = models.front().config;
  // The images, as float batches in [0, 1].
  std::vector<torch::Tensor> batches;
  int64_t images = 0;
  if (a.random > 0) {
    torch::manual_seed(1);
    const int64_t s = a.size;
    for (int64_t done = 0; done < a.random; done += a.batch) {
      const int64_t b = std::min<int64_t>(a.batch, a.random - done);
      batches.push_back(torch::rand({b, first.image_channels, s, s}));
    }
    images = a.random;
  } else {
    auto ds = hrvq::open_dataset(a.data, hrvq::DatasetKind::Auto, hrvq::parse_subset(a.subset));
    std::vector<torch::Tensor> pending;
    for (size_t i = 0; i < ds->size(); ++i) {
      hrvq::Image im = ds->get(i);
      auto t = torch::from_blob(im.pixels.data(), {im.height, im.width, im.channels}, torch::kUInt8)
                   .permute({2, 0, 1})
                   .to(torch::kFloat32)
                   .div(255.0);
      pending.push_back(t);
      if (static_cast<int>(pending.size()) == a.batch || i + 1 == ds->size()) {
        batches.push_back(torch::stack(pending));
        pending.clear();
      }
    }
    images = static_cast<int64_t>(ds->size());
  }
  const int64_t H = batches[0].size(2), W = batches[0].size(3);
  for (size_t m = 0; m < models.size(); ++m)
    if (models[m].config.image_channels != batches[0].size(1))
      throw hrvq::Error(a.models[m] + ": takes " + std::to_string(models[m].config.image_channels) +
                        "-channel images, the data has " + std::to_string(batches[0].size(1)));

  std::vector<std::vector<double>> recon(models.size());
  for (auto& m : models) m.net->decode(m.net->encode(batches[0]), 0, H, W);  // warm-up
  for (int r = 0; r < a.runs; ++r) {
    for (size_t m = 0; m < models.size(); ++m) {
      auto t = Clock::now();
      for (const auto& x : batches) models[m].net->decode(models[m].net->encode(x), 0, x.size(2), x.size(3));
      recon[m].push_back(seconds_since(t));
      std::fprintf(stderr, "recon_speed: run %d/%d %s %.3f s\n", r + 1, a.runs, a.models[m].c_str(), recon[m].back());
    }
  }

  // The search alone.
  struct SearchCase {
    std::string name;
    hrvq::ResidualQuantizer q;
  };
  std::vector<SearchCase> cases;
  torch::manual_seed(2);
  const int64_t D = a.search_dim;
  cases.push_back({"hr n=3 m=8 (24 distances per position)",
                   hrvq::ResidualQuantizer(hrvq::QuantizerKind::Hr, 3, 8, D, 0.25, 0.25, false, 0.99)});
  cases.push_back({"vq K=512 (512 distances)", hrvq::ResidualQuantizer(hrvq::QuantizerKind::Vq, 1, 512, D, 0.25, 0.25, false, 0.99)});
  cases.push_back({"vq K=4096 (4096 distances)", hrvq::ResidualQuantizer(hrvq::QuantizerKind::Vq, 1, 4096, D, 0.25, 0.25, false, 0.99)});
  auto z = torch::randn({a.search_positions, D}) * 0.3;
  // Chunks the size of a batch's latents, as the codec quantizes them.
  const int64_t chunk = static_cast<int64_t>(a.batch) * 49;
  std::vector<std::vector<double>> search(cases.size());
  for (auto& c : cases) c.q->encode_codes(z.narrow(0, 0, std::min(chunk, z.size(0))));  // warm-up
  for (int r = 0; r < a.runs; ++r) {
    for (size_t c = 0; c < cases.size(); ++c) {
      auto t = Clock::now();
      for (int64_t s = 0; s < z.size(0); s += chunk) cases[c].q->encode_codes(z.narrow(0, s, std::min(chunk, z.size(0) - s)));
      search[c].push_back(seconds_since(t));
    }
  }

  std::string md = fmt::format("{} images of {}x{}x{}, batch {}, {} torch thread(s), {} runs (median, min..max)\n\n",
                               images, batches[0].size(1), H, W, a.batch, a.threads, a.runs);
  md += "| model | quantizer | reconstruct s | images/s |\n|---|---|---|---|\n";
  std::string json = fmt::format("{{\"images\": {}, \"height\": {}, \"width\": {}, \"batch\": {}, \"threads\": {}, \"runs\": {}, \"reconstruct\": [",
                                 images, H, W, a.batch, a.threads, a.runs);
  for (size_t m = 0; m < models.size(); ++m) {
    const auto& v = recon[m];
    const double med = median(v);
    md += fmt::format("| {} | {} | {:.3f} ({:.3f}..{:.3f}) | {:.0f} |\n", a.models[m],
                      hrvq::quantizer_kind_name(models[m].config.quantizer), med, *std::min_element(v.begin(), v.end()),
                      *std::max_element(v.begin(), v.end()), images / med);
    json += fmt::format("{}{{\"model\": \"{}\", \"quantizer\": \"{}\", \"seconds\": [{}], \"median_s\": {:.6f}}}", m ? ", " : "",
                        a.models[m], hrvq::quantizer_kind_name(models[m].config.quantizer), fmt::join(v, ", "), med);
  }
  md += fmt::format("\nThe search alone: {} random latents of dimension {} in chunks of {}\n\n", a.search_positions, D, chunk);
  md += "| search | seconds | positions/s | vs hr |\n|---|---|---|---|\n";
  json += "], \"search\": [";
  const double hr_s = median(search[0]);
  for (size_t c = 0; c < cases.size(); ++c) {
    const double med = median(search[c]);
    md += fmt::format("| {} | {:.3f} ({:.3f}..{:.3f}) | {:.3g} | {:.1f}x |\n", cases[c].name, med,
                      *std::min_element(search[c].begin(), search[c].end()),
                      *std::max_element(search[c].begin(), search[c].end()), a.search_positions / med, med / hr_s);
    json += fmt::format("{}{{\"search\": \"{}\", \"seconds\": [{}], \"median_s\": {:.6f}}}", c ? ", " : "", cases[c].name,
                        fmt::join(search[c], ", "), med);
  }
  json += fmt::format("], \"search_positions\": {}, \"search_dim\": {}}}\n", a.search_positions, D);
  std::fputs(md.c_str(), stdout);
  if (!a.json.empty()) hrvq::write_file_atomic(a.json, std::vector<uint8_t>(json.begin(), json.end()), true);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "recon_speed: %s\n", e.what());
  return 1;
}
