// Small helpers shared by the long-running commands' progress lines.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace hrvq {

// "2h05m", "3m07s", "12s"; "?" while unknown.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace hrvq
