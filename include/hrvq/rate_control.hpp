// Choosing how many index maps an encoder writes. A prefix of k maps is a valid file
// that decodes to the k-map reconstruction, and both its size and its quality grow with
// k, so every rate target reduces to picking k. Torch-free: the codec supplies the
// sizes and, for PSNR targets, a function that decodes a prefix and measures it.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace hrvq {

struct RateTarget {
  enum class Kind { All, Layers, Quality, Bpp, Psnr };
  Kind kind = Kind::All;
  double value = 0;  // layers, quality 0..100, bits per pixel or dB

  static RateTarget all() { return {}; }
  static RateTarget layers(int k) { return {Kind::Layers, double(k)}; }
  static RateTarget quality(int q) { return {Kind::Quality, double(q)}; }
  static RateTarget bpp(double b) { return {Kind::Bpp, b}; }
  static RateTarget psnr(double db) { return {Kind::Psnr, db}; }
  std::string describe() const;  // "-q 75", "--bpp 0.5", ...
};

// -q Q (0..100) on a model of `maps` index maps: k = 1 + round(Q / 100 * (maps - 1)),
// so 0 writes one map, 100 all of them, and k never decreases as Q grows.
int layers_for_quality(int quality, int maps);

// The largest k whose file (file_bytes[k - 1] bytes for the first k maps) is at most
// `budget_bytes`; 0 when even one map is larger.
int layers_for_size(const std::vector<size_t>& file_bytes, double budget_bytes);

// The smallest k in 1..maps whose reconstruction reaches `target_db`, by bisection
// (quality grows with k, so each probe halves the range: about log2(maps) decodes).
// When no prefix reaches it, returns maps and sets *reached = false.
int layers_for_psnr(int maps, double target_db, const std::function<double(int)>& psnr_of_prefix, bool* reached);

}  // namespace hrvq
