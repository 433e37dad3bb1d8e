// hrvq eval fid A B       FID between two image sets (folders, datasets or statistics files)
// hrvq eval fid-stats DATA -o STATS   statistics of one image set, for later comparisons
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"
#include "hrvq/fid.hpp"

namespace hrvq::cli {
namespace {

struct FidArgs {
  std::string inception;
  int batch = 50;
  std::string device = "auto";
  std::string dataset = "auto";
  std::string subset;
};

void add_common_options(CLI::App* cmd, FidArgs& a) {
  cmd->add_option("--inception", a.inception,
                  std::string("InceptionV3 weights (") + kInceptionWeightsName + "; default: $HRVQ_INCEPTION)");
  cmd->add_option("-b,--batch", a.batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--device", a.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_option("--dataset", a.dataset, "auto|mnist|cifar10|ffhq|imagenet|folder")->capture_default_str();
  cmd->add_option("--subset", a.subset, "START:END: only these items of an image set");
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Loads the extractor on first use: statistics files need no weights.
class Runner {
 public:
  explicit Runner(const FidArgs& a) : args_(a) {}

  FidStatistics statistics_of(const std::string& path, const std::string& label) {
    if (is_fid_statistics_file(path)) return load_fid_statistics(path);
    const Subset subset = args_.subset.empty() ? Subset{} : parse_subset(args_.subset);
    std::unique_ptr<Dataset> data = open_dataset(path, parse_dataset_kind(args_.dataset), subset);
    FidExtractor& fid = extractor();
    fid.reset();
    const size_t total = data->size();
    const bool live = !globals().quiet && isatty(2);
    const auto start = Clock::now();
    fid.set_progress([&](int64_t done) {
      if (live)
        fmt::print(stderr, "\r{}: {}/{} images, {:.1f} images/s   ", label, done, total, done / seconds_since(start));
    });
    // Decoding of the next batch overlaps the network's work on this one.
    const size_t batch = static_cast<size_t>(args_.batch);
    auto decode = [&data, total, batch](size_t first, std::vector<std::string>* bad) {
      std::vector<Image> images;
      for (size_t i = first; i < std::min(total, first + batch); ++i) {
        try {
          images.push_back(data->get(i));
        } catch (const Error& e) {
          bad->push_back(e.what());
        }
      }
      return images;
    };
    std::vector<std::string> skipped;
    std::vector<std::string> next_bad;
    std::future<std::vector<Image>> next = std::async(std::launch::async, decode, size_t{0}, &next_bad);
    for (size_t first = 0; first < total; first += batch) {
      std::vector<Image> images = next.get();
      skipped.insert(skipped.end(), next_bad.begin(), next_bad.end());
      next_bad.clear();
      if (first + batch < total) next = std::async(std::launch::async, decode, first + batch, &next_bad);
      fid.add(images);
    }
    FidStatistics stats = fid.statistics();
    if (live) fmt::print(stderr, "\n");
    if (!globals().quiet) {
      for (const auto& msg : skipped) fmt::print(stderr, "hrvq: warning: skipped {}\n", msg);
      if (!live)
        fmt::print(stderr, "{}: {} images in {:.1f} s ({:.1f} images/s, {})\n", label, stats.count, seconds_since(start),
                   stats.count / std::max(seconds_since(start), 1e-9), fid.device_name());
    }
    return stats;
  }

 private:
  FidExtractor& extractor() {
    if (!fid_) {
      const std::string weights = find_inception_weights(args_.inception);
      fid_ = std::make_unique<FidExtractor>(FidOptions{args_.batch, args_.device});
      fid_->load(weights);
    }
    return *fid_;
  }

  FidArgs args_;
  std::unique_ptr<FidExtractor> fid_;
};

}  // namespace

void register_eval_fid(CLI::App& eval) {
  {
    struct Args {
      FidArgs common;
      std::string a, b;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = eval.add_subcommand(
        "fid", "Fréchet Inception Distance between two image sets, as pytorch-fid computes it");
    cmd->add_option("A", args->a, "Image folder, dataset or statistics file (from eval fid-stats)")->required();
    cmd->add_option("B", args->b, "Image folder, dataset or statistics file")->required();
    add_common_options(cmd, args->common);
    cmd->add_flag("--json", args->json, "One JSON object on stdout");
    cmd->callback([args] {
      const auto start = Clock::now();
      Runner runner(args->common);
      const FidStatistics a = runner.statistics_of(args->a, args->a);
      const FidStatistics b = runner.statistics_of(args->b, args->b);
      const double fid = frechet_distance(a, b);
      if (!std::isfinite(fid)) throw Error("FID: the distance is not finite (degenerate statistics)");
      const double seconds = seconds_since(start);
      if (args->json)
        fmt::print("{{\"fid\": {}, \"count_a\": {}, \"count_b\": {}, \"seconds\": {:.3f}}}\n", fid, a.count, b.count,
                   seconds);
      else
        fmt::print("FID {:.4f}  (A: {} images, B: {} images, {:.1f} s)\n", fid, a.count, b.count, seconds);
    });
  }
  {
    struct Args {
      FidArgs common;
      std::string data, output;
      bool force = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = eval.add_subcommand("fid-stats", "Save the Inception feature statistics of an image set for eval fid");
    cmd->add_option("DATA", args->data, "Image folder or dataset")->required();
    cmd->add_option("-o,--output", args->output, "Statistics file to write")->required();
    cmd->add_flag("-f,--force", args->force, "Overwrite an existing output file");
    add_common_options(cmd, args->common);
    cmd->callback([args] {
      Runner runner(args->common);
      const FidStatistics s = runner.statistics_of(args->data, args->data);
      save_fid_statistics(s, args->output, args->force);
      fmt::print("{}: statistics of {} images ({} features)\n", args->output, s.count, s.dim());
    });
  }
}

}  // namespace hrvq::cli
