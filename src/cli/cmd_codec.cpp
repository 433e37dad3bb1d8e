// hrvq encode / hrvq decode: argument parsing, file naming and per-file error reporting.
// The codec itself is the library's (hrvq/codec.hpp).
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "commands.hpp"
#include "hrvq/codec.hpp"
#include "hrvq/error.hpp"
#include "hrvq/file_io.hpp"
#include "hrvq/image.hpp"
#include "hrvq/model_search.hpp"
#include "hrvq/runtime.hpp"

namespace hrvq::cli {

namespace {

namespace fs = std::filesystem;

struct CommonArgs {
  std::vector<std::string> inputs;
  std::string output;
  std::string dir;
  int layers = 0;
  int jobs = 0;  // 0: choose (jobs_for)
  bool force = false;
  std::string device = "auto";
  std::string precision = "fp32";
};

std::mutex& stderr_mutex() {
  static std::mutex m;
  return m;
}

void say(const std::string& line) {
  std::lock_guard<std::mutex> lock(stderr_mutex());
  fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

void warn(const std::string& message) {
  if (!globals().quiet) say("hrvq: warning: " + message);
}

// Per-file lines: asked for with -v, otherwise only for a person at a terminal.
bool chatty() { return globals().verbose > 0 || (!globals().quiet && isatty(STDOUT_FILENO)); }

std::string display(const std::string& path) { return path == "-" ? "stdin" : path; }
std::string display_out(const std::string& path) { return path == "-" ? "stdout" : path; }

std::string first_line(const std::string& text) {
  auto pos = text.find('\n');
  return pos == std::string::npos ? text : text.substr(0, pos);
}

// Each input's output; `clash` is set where an earlier input already has that output
// name: such an input fails instead of silently replacing the other's result.
struct Outputs {
  std::vector<std::string> paths;
  std::vector<bool> clash;
  void check(size_t i) const {
    if (clash[i]) throw Error(fmt::format("its output {} is also that of an earlier input", paths[i]));
  }
};

// Checks -o/-d and the inputs, and names each input's output.
Outputs plan_outputs(const CommonArgs& a, const std::string& extension) {
  if (a.output.empty() == a.dir.empty()) throw Error("give exactly one of -o OUT and -d DIR");
  if (!a.output.empty() && a.inputs.size() != 1)
    throw Error(fmt::format("-o takes one input, {} given (use -d DIR for several)", a.inputs.size()));
  size_t stdin_uses = 0;
  for (const auto& in : a.inputs) stdin_uses += in == "-";
  if (stdin_uses > 1) throw Error("stdin ('-') can be read only once");
  if (!a.output.empty()) {
    if (a.output == "-" && isatty(STDOUT_FILENO)) throw Error("refusing to write binary data to a terminal (use -o FILE)");
    return Outputs{{a.output}, {false}};
  }
  std::error_code ec;
  if (!fs::is_directory(a.dir, ec)) {
    fs::create_directories(a.dir, ec);
    if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", a.dir, ec.message()));
  }
  Outputs outputs;
  std::map<std::string, size_t> claimed;
  for (const auto& in : a.inputs) {
    std::string stem = in == "-" ? "stdin" : fs::path(in).stem().string();
    if (stem.empty()) stem = "out";
    std::string out = (fs::path(a.dir) / (stem + extension)).string();
    outputs.clash.push_back(claimed.count(out) != 0);
    outputs.paths.push_back(out);
    claimed.emplace(out, outputs.paths.size() - 1);
  }
  return outputs;
}

// Runs job(i) for input i; a failure is reported on its own line ("hrvq: IN: problem")
// and counted, never thrown. Returns whether the job succeeded.
bool guarded(const std::vector<std::string>& inputs, size_t i, std::atomic<size_t>& failures,
             const std::function<void()>& job) {
  auto report = [&](const std::string& problem) {
    // Messages that already name the input are printed as they are.
    const std::string name = display(inputs[i]);
    const bool named = problem.compare(0, name.size() + 2, name + ": ") == 0;
    say("hrvq: " + (named ? problem : name + ": " + problem));
    ++failures;
  };
  try {
    job();
    return true;
  } catch (const Error& e) {
    report(e.what());
  } catch (const c10::Error& e) {
    report("internal error: " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    report("out of memory");
  } catch (const std::exception& e) {
    report(first_line(e.what()));
  }
  return false;
}

// Runs job(i) for every input on `jobs` threads. A failure is reported on its own line
// and does not stop the others; returns the number of failures.
size_t run_all(const std::vector<std::string>& inputs, int jobs, const std::function<void(size_t)>& job) {
  std::atomic<size_t> next{0}, failures{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < inputs.size();) guarded(inputs, i, failures, [&] { job(i); });
  };
  const size_t threads = std::min<size_t>(static_cast<size_t>(std::max(jobs, 1)), inputs.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return failures;
}

// With one worker the inputs go `chunk` at a time: each is loaded on its own (its
// failure stays its own), then the loaded ones go through one batched call, in which
// same-size images share forward passes (what a GPU wants). If the batched call fails,
// its inputs are redone one by one, so that only the bad one fails.
template <typename Item>
size_t run_chunked(const std::vector<std::string>& inputs, size_t chunk, const std::function<Item(size_t)>& load,
                   const std::function<void(const std::vector<size_t>&, std::vector<Item>&,
                                            std::atomic<size_t>& failures)>& batch,
                   const std::function<void(size_t, Item&)>& single) {
  std::atomic<size_t> failures{0};
  for (size_t start = 0; start < inputs.size(); start += chunk) {
    std::vector<size_t> ids;
    std::vector<Item> items;
    for (size_t i = start; i < std::min(inputs.size(), start + chunk); ++i) {
      Item item;
      if (guarded(inputs, i, failures, [&] { item = load(i); })) {
        ids.push_back(i);
        items.push_back(std::move(item));
      }
    }
    if (ids.empty()) continue;
    bool batched = false;
    try {
      batch(ids, items, failures);
      batched = true;
    } catch (const std::exception&) {
    }
    if (!batched)
      for (size_t k = 0; k < ids.size(); ++k) guarded(inputs, ids[k], failures, [&] { single(ids[k], items[k]); });
  }
  return failures;
}

// Without -j: on a CPU with several inputs, one job per compute thread (--threads,
// default one per core), each running torch on its share of them. Whole images in
// parallel beat one image's convolutions split across the cores (bench/batch-speed.sh:
// encode 1.35x, decode 1.2x over -j 1 on 2 cores), and one job's file reading and writing fills the
// gaps of the others. One image, or a GPU (which wants batches): one job. Memory then
// holds one image per job.
int jobs_for(const CommonArgs& a) {
  if (a.jobs > 0) return a.jobs;
  if (a.inputs.size() < 2 || resolves_to_gpu(a.device)) return 1;
  const int threads = runtime_threads();
  const int jobs = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), a.inputs.size()));
  if (jobs > 1) init_runtime(std::max(1, threads / jobs));
  return jobs;
}

[[noreturn]] void exit_failed() {
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(1);
}

void add_common(CLI::App* cmd, CommonArgs& a) {
  cmd->add_option("IN", a.inputs, "Input files ('-' is stdin)")->required();
  cmd->add_option("-o,--output", a.output, "Output file ('-' is stdout); one input only");
  cmd->add_option("-d,--dir", a.dir, "Output folder: one file per input, named after it");
  cmd->add_option("--layers", a.layers, "Index maps to use, 1..n x G (default: all)")->check(CLI::Range(0, 64));
  cmd->add_option("-j,--jobs", a.jobs,
                  "Inputs processed in parallel (default: on a CPU with several inputs, one per compute thread, "
                  "each on one thread; otherwise 1)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("-f,--force", a.force, "Overwrite existing outputs");
  cmd->add_option("--device", a.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_option("--precision", a.precision, "Network precision: fp32 (reference) | bf16 (1.6-2x faster on AVX-512 BF16 CPUs, under 0.05 dB)")
      ->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
}

void register_encode(CLI::App& app) {
  struct Args : CommonArgs {
    std::string model;
    std::string coder = "rans-ctx";
    int quality = -1;
    double bpp = 0, psnr_db = 0;
    int beam = 1;
    double rdo = 0;
    bool adaptive = false;
    int adaptive_tile = 4;
    int adaptive_decodes = EncodeOptions{}.depth_decodes;
    std::string adaptive_tune = "psnr";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("encode", "Compress PNG/JPEG images to .hrvq bitstreams");
  cmd->add_option("-m,--model", args->model, "Model file (default: the bundled photo model)");
  add_common(cmd, *args);
  // -q here is the quality, as in cjpeg/cwebp; --quiet stays available after the command.
  auto* q = cmd->add_option("-q,--quality", args->quality, "Quality 0..100: more index maps as it grows (default 40)")
                ->check(CLI::Range(0, 100));
  auto* bpp = cmd->add_option("--bpp", args->bpp, "Per image, the best quality whose file is at most this many bits per pixel")
                  ->check(CLI::PositiveNumber);
  auto* ps = cmd->add_option("--psnr", args->psnr_db, "Per image, the smallest file that reaches this PSNR in dB")
                 ->check(CLI::PositiveNumber);
  auto* layers = cmd->get_option("--layers");
  q->excludes(bpp)->excludes(ps)->excludes(layers);
  bpp->excludes(ps)->excludes(layers);
  ps->excludes(layers);
  cmd->add_option("--beam", args->beam, "Beam width of the encoder's search over each code tree (1: greedy)")
      ->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--rdo", args->rdo, "Rate-distortion optimised code choice: lambda, latent error per bit (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--adaptive", args->adaptive,
                "Per tile, its own number of index maps, chosen to meet the rate target with the least error "
                "(a version-3 file; the encoder is slower, the decoder is not)");
  cmd->add_option("--adaptive-tile", args->adaptive_tile, "Side of an --adaptive tile in latent positions")
      ->check(CLI::Range(1, 255))->capture_default_str();
  cmd->add_option("--adaptive-decodes", args->adaptive_decodes,
                  "Depths the --adaptive encoder decodes to measure tile errors, the rest estimated (more: slower, "
                  "closer; 0: estimated from the latents alone)")
      ->check(CLI::Range(0, 64))->capture_default_str();
  cmd->add_option("--adaptive-tune", args->adaptive_tune,
                  "What the --adaptive choice under -q/--bpp minimises: psnr (the squared error) | ssim (the error "
                  "weighed by how plain it is to SSIM: more maps for flat areas)")
      ->check(CLI::IsMember({"psnr", "ssim"}))->capture_default_str();
  cmd->add_flag("--quiet", globals().quiet, "No progress or warnings on stderr (as the global -q)");
  cmd->add_option("--coder", args->coder, "rans-ctx (rANS, neighbour contexts adapted per image) | rans (static per-parent tables) | zstd | raw")
      ->capture_default_str();
  cmd->callback([args] {
    auto& a = *args;
    const Coder coder = parse_coder(a.coder);
    const Outputs planned = plan_outputs(a, ".hrvq");
    const auto& outputs = planned.paths;
    CodecOptions options;
    options.device = a.device;
    options.precision = parse_precision(a.precision);
    a.jobs = jobs_for(a);
    if (a.jobs > 1) options.entropy_threads = 1;  // the cores are busy with other inputs
    options.warn = warn;
    const Codec codec(a.model.empty() ? default_model_path() : a.model, options);
    const bool verbose = globals().verbose > 0;
    EncodeOptions eo;
    eo.layers = a.layers;
    eo.coder = coder;
    eo.beam = a.beam;
    eo.rdo_lambda = a.rdo;
    eo.depth_tile = a.adaptive ? a.adaptive_tile : 0;
    eo.depth_decodes = a.adaptive_decodes;
    eo.depth_ssim_weight = a.adaptive_tune == "ssim" ? kSsimTuneWeight : 0.0;
    // Without any rate option: -q 40. On BSDS500 test it writes 7 of the bundled model's
    // 16 maps, about 0.93 bpp and 30.9 dB (MS-SSIM 0.980), where hrvq is +0.19 dB over JPEG
    // (docs/codec-bsds.md); its higher maps add rate faster than quality.
    constexpr int kDefaultQuality = 40;
    if (a.quality < 0 && a.bpp <= 0 && a.psnr_db <= 0 && a.layers == 0) a.quality = kDefaultQuality;
    if (a.quality >= 0) eo.rate = RateTarget::quality(a.quality);
    else if (a.bpp > 0) eo.rate = RateTarget::bpp(a.bpp);
    else if (a.psnr_db > 0) eo.rate = RateTarget::psnr(a.psnr_db);
    // Reads input i; checked here too so that no time is spent on one whose output stays.
    auto load = [&](size_t i) {
      const std::string name = display(a.inputs[i]);
      planned.check(i);
      if (!a.force && outputs[i] != "-" && file_exists(outputs[i]))
        throw Error(fmt::format("{}: exists (use --force to overwrite)", outputs[i]));
      ImageReadNotes notes;
      auto file = read_file(a.inputs[i]);
      Image image = decode_image(file.data(), file.size(), name, &notes);
      if (notes.dropped_alpha) warn(name + ": alpha channel dropped");
      return image;
    };
    auto finish = [&](size_t i, const Image& image, const std::vector<uint8_t>& bytes) {
      const std::string name = display(a.inputs[i]);
      write_file_atomic(outputs[i], bytes, a.force);
      if (verbose || chatty()) {
        const double bpp = 8.0 * bytes.size() / (double(image.width) * image.height);
        std::string line = fmt::format("{} -> {}: {} bytes, {:.4f} bpp", name, display_out(outputs[i]), bytes.size(), bpp);
        if (verbose) {
          Image reference = image.channels == codec.channels() ? image : convert_channels(image, codec.channels());
          const double p = psnr(reference, codec.decode(bytes, name));
          line += std::isinf(p) ? ", PSNR inf" : fmt::format(", PSNR {:.2f} dB", p);
        }
        say(line);
      }
    };
    auto encode_one = [&](size_t i, Image& image) {
      EncodeOptions o = eo;
      o.name = display(a.inputs[i]);
      finish(i, image, codec.encode(image, o));
    };
    size_t failed;
    if (a.jobs > 1 || a.inputs.size() == 1) {
      failed = run_all(a.inputs, a.jobs, [&](size_t i) {
        Image image = load(i);
        encode_one(i, image);
      });
    } else {
      failed = run_chunked<Image>(
          a.inputs, static_cast<size_t>(std::max(1, options.batch)), load,
          [&](const std::vector<size_t>& ids, std::vector<Image>& images, std::atomic<size_t>& failures) {
            std::vector<std::string> names;
            for (size_t i : ids) names.push_back(display(a.inputs[i]));
            auto streams = codec.encode_batch(images, eo, names);
            for (size_t k = 0; k < ids.size(); ++k)
              guarded(a.inputs, ids[k], failures, [&] { finish(ids[k], images[k], streams[k]); });
          },
          encode_one);
    }
    if (failed) exit_failed();
  });
}

void register_decode(CLI::App& app) {
  struct Args : CommonArgs {
    std::vector<std::string> models;
    std::string format;
    int quality = 90;
    int png_level = kDefaultPngLevel;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("decode", "Decompress .hrvq bitstreams to PNG/JPEG images");
  cmd->add_option("-m,--model", args->models,
                  "Model file; repeatable. Each input's model is found by fingerprint among these and the bundled "
                  "models")
      ->allow_extra_args(false);
  add_common(cmd, *args);
  cmd->add_option("--format", args->format, "png|jpeg (default: from -o's extension, else png)");
  cmd->add_option("--quality", args->quality, "JPEG quality")->check(CLI::Range(1, 100))->capture_default_str();
  cmd->add_option("--png-level", args->png_level, "PNG zlib level 0..9: 1 is fast (files 1% above libpng's default 6, 6x faster), 9 smallest")
      ->check(CLI::Range(0, 9))->capture_default_str();
  cmd->callback([args] {
    auto& a = *args;
    ImageFormat format = ImageFormat::Png;
    if (a.format == "png") {
      format = ImageFormat::Png;
    } else if (a.format == "jpeg" || a.format == "jpg") {
      format = ImageFormat::Jpeg;
    } else if (!a.format.empty()) {
      throw Error(fmt::format("unknown --format '{}' (expected png or jpeg)", a.format));
    } else if (!a.output.empty() && a.output != "-") {
      try {
        format = image_format_from_path(a.output);
      } catch (const Error&) {
        format = ImageFormat::Png;  // an unusual name is the user's choice; PNG is lossless
      }
    }
    const Outputs planned = plan_outputs(a, format == ImageFormat::Png ? ".png" : ".jpg");
    const auto& outputs = planned.paths;
    CodecOptions options;
    options.device = a.device;
    options.precision = parse_precision(a.precision);
    a.jobs = jobs_for(a);
    if (a.jobs > 1) options.entropy_threads = 1;  // the cores are busy with other inputs
    options.warn = warn;
    ModelSet models(a.models, true, options);
    const bool verbose = globals().verbose > 0;
    struct Stream {
      std::vector<uint8_t> bytes;
      const Codec* codec = nullptr;
    };
    auto load = [&](size_t i) {
      const std::string name = display(a.inputs[i]);
      planned.check(i);
      if (!a.force && outputs[i] != "-" && file_exists(outputs[i]))
        throw Error(fmt::format("{}: exists (use --force to overwrite)", outputs[i]));
      Stream st;
      // No valid file is larger: 64 index maps of at most 2 bytes per position plus headers.
      st.bytes = read_file(a.inputs[i], uint64_t{1} << 36);
      st.codec = &models.codec_for(st.bytes.data(), st.bytes.size(), name);
      return st;
    };
    auto finish = [&](size_t i, const Image& image) {
      PngOptions png;
      png.level = a.png_level;
      write_image(image, outputs[i], format, a.quality, a.force, png);
      if (verbose || chatty())
        say(fmt::format("{} -> {}: {}x{}, {} channel{}", display(a.inputs[i]), display_out(outputs[i]), image.width,
                        image.height, image.channels, image.channels == 1 ? "" : "s"));
    };
    auto decode_one = [&](size_t i, Stream& st) { finish(i, st.codec->decode(st.bytes, display(a.inputs[i]), a.layers)); };
    size_t failed;
    if (a.jobs > 1 || a.inputs.size() == 1) {
      failed = run_all(a.inputs, a.jobs, [&](size_t i) {
        Stream st = load(i);
        decode_one(i, st);
      });
    } else {
      failed = run_chunked<Stream>(
          a.inputs, static_cast<size_t>(std::max(1, options.batch)), load,
          [&](const std::vector<size_t>& ids, std::vector<Stream>& streams, std::atomic<size_t>& failures) {
            // One batched call per model; decode_batch pairs same-size images inside it.
            std::map<const Codec*, std::vector<size_t>> by_model;
            for (size_t k = 0; k < ids.size(); ++k) by_model[streams[k].codec].push_back(k);
            std::vector<Image> images(ids.size());
            for (auto& [codec, ks] : by_model) {
              std::vector<std::vector<uint8_t>> bytes;
              std::vector<std::string> names;
              for (size_t k : ks) {
                bytes.push_back(streams[k].bytes);
                names.push_back(display(a.inputs[ids[k]]));
              }
              auto out = codec->decode_batch(bytes, names, a.layers);
              for (size_t j = 0; j < ks.size(); ++j) images[ks[j]] = std::move(out[j]);
            }
            for (size_t k = 0; k < ids.size(); ++k)
              guarded(a.inputs, ids[k], failures, [&] { finish(ids[k], images[k]); });
          },
          decode_one);
    }
    if (failed) exit_failed();
  });
}

}  // namespace

void register_encode_decode(CLI::App& app) {
  register_encode(app);
  register_decode(app);
}

}  // namespace hrvq::cli
