#include "hrvq/rate_control.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hrvq/error.hpp"

namespace hrvq {

std::string RateTarget::describe() const {
  switch (kind) {
    case Kind::All: return "all maps";
    case Kind::Layers: return fmt::format("--layers {}", int(value));
    case Kind::Quality: return fmt::format("-q {}", int(value));
    case Kind::Bpp: return fmt::format("--bpp {:g}", value);
    case Kind::Psnr: return fmt::format("--psnr {:g}", value);
  }
  return "?";
}

int layers_for_quality(int quality, int maps) {
  if (quality < 0 || quality > 100) throw Error(fmt::format("quality {} is outside 0..100", quality));
  if (maps < 1) throw Error("layers_for_quality: no index maps");
  return 1 + static_cast<int>(std::lround(quality / 100.0 * (maps - 1)));
}

int layers_for_size(const std::vector<size_t>& file_bytes, double budget_bytes) {
  int best = 0;
  for (size_t k = 0; k < file_bytes.size(); ++k)
    if (double(file_bytes[k]) <= budget_bytes) best = static_cast<int>(k + 1);
  return best;
}

int layers_for_psnr(int maps, double target_db, const std::function<double(int)>& psnr_of_prefix, bool* reached) {
  if (maps < 1) throw Error("layers_for_psnr: no index maps");
  int lo = 1, hi = maps;
  bool found = false;
  // Invariant: every k < lo is known to miss; hi is the smallest k known to reach (if found).
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2;
    if (psnr_of_prefix(mid) >= target_db) {
      found = true;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  if (reached) *reached = found;
  return found ? lo : maps;
}

}  // namespace hrvq
