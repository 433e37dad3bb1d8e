// Fixtures for the engine and CLI tests: temporary folders, a small MNIST-format dataset,
// and running the real hrvq binary.
#pragma once
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hrvq/trainer.hpp"

namespace hrvq::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "hrvq-test-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    path = mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Writes `count` 28x28 images in MNIST's IDX3 format, gzip-compressed: blurred strokes,
// so a small model has structure to learn.
inline void write_mnist_gz(const std::string& path, int count, uint32_t seed = 1) {
  std::vector<uint8_t> bytes = {0, 0, 8, 3};
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  };
  be32(static_cast<uint32_t>(count));
  be32(28);
  be32(28);
  std::mt19937 rng(seed);
  for (int i = 0; i < count; ++i) {
    int cx = 8 + static_cast<int>(rng() % 12), cy = 8 + static_cast<int>(rng() % 12), r = 4 + static_cast<int>(rng() % 5);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        double d = std::abs(std::hypot(x - cx, y - cy) - r);
        bytes.push_back(static_cast<uint8_t>(d < 1.5 ? 255 - 80 * d : 0));
      }
  }
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

struct CommandResult {
  int exit_code = -1;      // -1: killed by a signal
  int signal = 0;
  std::string out, err;
};

// A whole file's bytes.
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command line with `stdin_path` as its input, capturing stdout and stderr
// through files.
inline CommandResult run(const std::string& command, const std::string& stdin_path = "/dev/null") {
  TempDir tmp;
  std::string out = tmp / "out", err = tmp / "err";
  int status = std::system((command + " >" + out + " 2>" + err + " <" + stdin_path).c_str());
  CommandResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A training run small enough for a unit test: a 1-channel 16x16 model of 2 layers of 4
// codes on `data` (an MNIST-format file), 8 steps with checkpoints every 3.
inline TrainOptions tiny_run(const TempDir& dir, const std::string& data, const std::string& name) {
  TrainOptions o;
  o.data = data;
  o.output = dir / name;
  ModelConfig& c = o.model;
  c.image_channels = 1; c.channels = 8; c.res_blocks = 1; c.res_channels = 4; c.embed_dim = 4;
  c.downsample = 4; c.layers = 2; c.codes = 4;
  TrainConfig& t = o.train;
  t.image_size = 16; t.fit = "resize"; t.flip = true; t.batch_size = 8; t.steps = 8; t.lr = 2e-3;
  t.checkpoint_every = 3; t.log_every = 2; t.layer_dropout = 0.5; t.reseed_after = 2; t.count_images = 40;
  o.device = "cpu";
  o.quiet = true;
  o.loader_threads = 2;
  o.handle_sigint = false;
  return o;
}

}  // namespace hrvq::test
