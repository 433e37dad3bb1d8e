#include "hrvq/tile_distortion.hpp"

#include <algorithm>
#include <cmath>

#include "hrvq/error.hpp"

namespace hrvq {

std::vector<int> anchor_depths(int lo, int hi, int k0, int count) {
  std::vector<int> out;
  if (count <= 0 || hi < lo) return out;
  k0 = std::clamp(k0, lo, hi);
  if (count == 1) return {k0};
  if (count > hi - lo) {
    for (int d = lo; d <= hi; ++d) out.push_back(d);
    return out;
  }
  out = {lo, hi};
  if (count >= 3 && k0 != lo && k0 != hi) out.insert(out.begin() + 1, k0);
  // The others one at a time in the middle of the widest gap between chosen depths.
  while (static_cast<int>(out.size()) < count) {
    size_t widest = 0;  // the gap between out[widest] and out[widest + 1]
    for (size_t i = 1; i + 1 < out.size(); ++i)
      if (out[i + 1] - out[i] > out[widest + 1] - out[widest]) widest = i;
    if (out[widest + 1] - out[widest] < 2) break;
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(widest) + 1, (out[widest] + out[widest + 1]) / 2);
  }
  return out;
}

std::vector<double> map_weights_from_crop(const std::vector<int>& depths, const std::vector<double>& crop_sse,
                                          const std::vector<double>& crop_proxy) {
  const int n = static_cast<int>(crop_proxy.size()) - 1;
  if (n < 1 || crop_sse.size() != depths.size()) throw Error("map_weights_from_crop: tables do not match");
  std::vector<double> w(static_cast<size_t>(n), -1.0);
  std::vector<double> measured;
  for (size_t c = 0; c + 1 < depths.size(); ++c) {
    const int j = depths[c];
    if (j < 0 || depths[c + 1] != j + 1 || j + 1 > n) throw Error("map_weights_from_crop: depths are not consecutive");
    const double de = crop_proxy[j] - crop_proxy[j + 1], ds = crop_sse[c] - crop_sse[c + 1];
    if (de > 0 && ds > 0) measured.push_back(w[j] = ds / de);
  }
  if (measured.empty()) return std::vector<double>(static_cast<size_t>(n), 1.0);
  std::nth_element(measured.begin(), measured.begin() + measured.size() / 2, measured.end());
  const double median = measured[measured.size() / 2];
  for (auto& x : w) x = x < 0 ? median : std::clamp(x, median / 10, median * 10);
  return w;
}

std::vector<double> estimate_tile_sse(size_t tiles, const std::vector<int>& depths,
                                      std::vector<std::vector<double>> proxy,
                                      const std::map<int, std::vector<double>>& decoded,
                                      const std::vector<double>& map_weights) {
  const int n = static_cast<int>(proxy.size()) - 1;
  for (const auto& q : proxy)
    if (q.size() != tiles) throw Error("estimate_tile_sse: proxy tables do not match");
  if (!map_weights.empty()) {
    if (static_cast<int>(map_weights.size()) != n) throw Error("estimate_tile_sse: one weight per map");
    // From the deepest prefix up, so each q(j + 1) read is still the unweighted one.
    for (size_t t = 0; t < tiles; ++t) {
      double below = proxy[n][t], weighted = proxy[n][t];
      for (int j = n - 1; j >= 0; --j) {
        const double share = proxy[j][t] - below;
        below = proxy[j][t];
        proxy[j][t] = weighted += map_weights[j] * share;
      }
    }
  }
  for (int d : depths)
    if (d < 0 || d > n) throw Error("estimate_tile_sse: a candidate depth has no proxy");
  std::vector<int> anchors;
  for (const auto& [d, sse] : decoded) {
    if (d < 0 || d > n || sse.size() != tiles) throw Error("estimate_tile_sse: decoded tables do not match");
    anchors.push_back(d);
  }
  // One anchor: the image's own ratio of pixel error to proxy as every tile's slope.
  double image_slope = 1.0;
  if (anchors.size() == 1) {
    double s = 0, q = 0;
    for (size_t t = 0; t < tiles; ++t) s += decoded.begin()->second[t], q += proxy[anchors[0]][t];
    image_slope = q > 0 ? s / q : 0.0;
  }
  const size_t C = depths.size();
  std::vector<double> out(tiles * C);
  for (size_t t = 0; t < tiles; ++t) {
    auto sse_at = [&](int a) { return decoded.at(a)[t]; };
    auto q = [&](int d) { return proxy[d][t]; };
    // Slope of sse against q between two anchors; 0 where q does not separate them
    // (the tile's codes are the same) or where the decoded error rose with q.
    auto slope = [&](int a, int b) {
      const double dq = q(a) - q(b);
      return std::abs(dq) > 0 ? std::max(0.0, (sse_at(a) - sse_at(b)) / dq) : 0.0;
    };
    for (size_t c = 0; c < C; ++c) {
      const int d = depths[c];
      double e;
      if (anchors.empty()) {
        e = q(d);
      } else if (decoded.count(d)) {
        e = sse_at(d);
      } else if (anchors.size() == 1) {
        e = sse_at(anchors[0]) + image_slope * (q(d) - q(anchors[0]));
      } else {
        const auto above = std::upper_bound(anchors.begin(), anchors.end(), d);
        int a, b;  // the segment: a < b, the anchors around d or the outermost pair
        if (above == anchors.begin()) a = anchors[0], b = anchors[1];
        else if (above == anchors.end()) a = anchors[anchors.size() - 2], b = anchors.back();
        else a = *(above - 1), b = *above;
        const double dq = q(a) - q(b);
        if (d > a && d < b) {
          // Inside: the fraction of the way from b to a that q has gone, or of the depths
          // when q does not tell them apart.
          double frac = std::abs(dq) > 0 ? (q(d) - q(b)) / dq : double(b - d) / (b - a);
          frac = std::clamp(frac, 0.0, 1.0);
          e = sse_at(b) + frac * (sse_at(a) - sse_at(b));
        } else {
          const int near = d < a ? a : b;
          e = sse_at(near) + slope(a, b) * (q(d) - q(near));
        }
      }
      out[t * C + c] = std::max(0.0, e);
    }
  }
  return out;
}

}  // namespace hrvq
