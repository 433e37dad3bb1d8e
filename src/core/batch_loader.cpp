// Background batch loading. Work is handed out per batch: worker threads take the next
// batch number ("ticket"), decode and transform its items, and park the result in a map
// keyed by ticket; next() takes tickets strictly in order. Results are therefore the same
// for any thread count and any timing. At most max(prefetch_batches, threads) tickets
// from the one next() is waiting for on are handed out, which bounds memory.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <fmt/format.h>
#include <map>
#include <new>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "hrvq/dataset.hpp"
#include "hrvq/error.hpp"

namespace hrvq {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fisher-Yates with splitmix64 draws and rejection sampling: the same permutation on
// every platform and standard library.
std::vector<size_t> permutation(size_t n, uint64_t seed, uint64_t epoch) {
  std::vector<size_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  uint64_t state = mix(mix(seed ^ 0x73687566666c6521ull) ^ epoch);
  auto next = [&] {
    uint64_t r = mix(state);
    state += 0x9e3779b97f4a7c15ull;
    return r;
  };
  for (size_t i = n; i > 1; --i) {
    uint64_t bound = i, threshold = (0 - bound) % bound, r;
    do r = next();
    while (r < threshold);
    std::swap(p[i - 1], p[static_cast<size_t>(r % bound)]);
  }
  return p;
}

}  // namespace

struct BatchLoader::Impl {
  struct Result {
    Batch batch;
    std::vector<size_t> corrupt;  // dataset indices left out, in position order
    std::exception_ptr error;
  };

  const Dataset& dataset;
  TransformOptions transform;
  LoaderOptions options;
  size_t items = 0;
  size_t batches = 0;  // per epoch
  size_t window = 1;

  mutable std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::atomic<bool> stop{false};
  bool started = false;                 // workers idle until the first next()
  std::atomic<uint64_t> generation{0};  // bumped by seek(); stale results are dropped
  uint64_t base = 0;                    // global batch number of ticket 0
  uint64_t handed_out = 0;              // next ticket for a worker
  uint64_t consumed = 0;                // ticket next() returns next
  std::map<uint64_t, Result> ready;
  std::vector<std::thread> threads;

  // Corrupt items: found by workers, reported in the order next() meets them.
  mutable std::mutex corrupt_mu;
  std::unordered_map<size_t, std::string> corrupt;  // dataset index -> error message
  std::unordered_set<size_t> reported;
  std::vector<std::string> reported_names, reported_messages;

  std::mutex perm_mu;
  std::map<uint64_t, std::shared_ptr<const std::vector<size_t>>> perms;

  Impl(const Dataset& d, TransformOptions t, LoaderOptions o) : dataset(d), transform(t), options(o) {}

  std::shared_ptr<const std::vector<size_t>> order(uint64_t epoch) {
    std::lock_guard<std::mutex> lock(perm_mu);
    auto it = perms.find(epoch);
    if (it != perms.end()) return it->second;
    auto p = std::make_shared<const std::vector<size_t>>(permutation(items, options.seed, epoch));
    perms.emplace(epoch, p);
    // Tickets in flight span few epochs; keep those, forget the oldest.
    while (perms.size() > 8) perms.erase(perms.begin());
    return p;
  }

  Result produce(uint64_t global, uint64_t gen) {
    Result r;
    const uint64_t epoch = global / batches;
    const size_t begin = std::min(items, static_cast<size_t>(global % batches) * options.batch_size * options.shard_count +
                                             options.shard_index * options.batch_size);
    const size_t end = std::min(items, begin + options.batch_size);
    std::shared_ptr<const std::vector<size_t>> perm = options.shuffle ? order(epoch) : nullptr;
    Batch& b = r.batch;
    b.channels = transform.channels;
    for (size_t pos = begin; pos < end; ++pos) {
      if (stop.load() || generation.load() != gen) return r;  // dropped by the caller anyway
      const size_t index = perm ? (*perm)[pos] : pos;
      {
        std::lock_guard<std::mutex> lock(corrupt_mu);
        if (corrupt.count(index)) {
          r.corrupt.push_back(index);
          continue;
        }
      }
      Image img;
      try {
        img = dataset.get(index);
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(corrupt_mu);
        corrupt.emplace(index, e.what());
        r.corrupt.push_back(index);
        continue;
      } catch (const std::bad_alloc&) {
        // Not the file's fault: stop the run rather than skip every item after this.
        throw Error(fmt::format("{}: out of memory", dataset.item_name(index)));
      } catch (const std::exception& e) {
        throw Error(fmt::format("{}: {}", dataset.item_name(index), e.what()));
      }
      img = transform_image(img, transform, item_seed(options.seed, epoch, pos));
      if (b.count == 0) {
        b.height = img.height;
        b.width = img.width;
        b.pixels.resize((end - begin) * static_cast<size_t>(b.channels) * b.height * b.width);
      } else if (img.width != b.width || img.height != b.height) {
        throw Error(fmt::format("{}: image is {}x{} but the batch's first is {}x{}; images of different sizes need a "
                                "transform size",
                                dataset.item_name(index), img.width, img.height, b.width, b.height));
      }
      // HWC -> CHW
      const size_t plane = static_cast<size_t>(b.height) * b.width;
      uint8_t* dst = &b.pixels[b.count * plane * b.channels];
      for (size_t i = 0; i < plane; ++i)
        for (int c = 0; c < b.channels; ++c) dst[c * plane + i] = img.pixels[i * b.channels + c];
      b.indices.push_back(index);
      ++b.count;
    }
    b.pixels.resize(b.count * static_cast<size_t>(b.channels) * b.height * b.width);
    return r;
  }

  void work() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [&] { return stop.load() || (started && handed_out < consumed + window); });
      if (stop.load()) return;
      const uint64_t ticket = handed_out++;
      const uint64_t gen = generation.load();
      const uint64_t global = base + ticket;
      lock.unlock();
      Result r;
      try {
        r = produce(global, gen);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      if (gen != generation.load() || stop.load()) continue;
      ready.emplace(ticket, std::move(r));
      ready_cv.notify_all();
    }
  }

  void report(const std::vector<size_t>& indices) {
    std::lock_guard<std::mutex> lock(corrupt_mu);
    for (size_t index : indices) {
      if (!reported.insert(index).second) continue;
      reported_names.push_back(dataset.item_name(index));
      reported_messages.push_back(corrupt[index]);
    }
  }
};

BatchLoader::BatchLoader(const Dataset& dataset, TransformOptions transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>(dataset, transform, options)) {
  Impl& m = *impl_;
  if (options.batch_size == 0) throw Error("batch size must be at least 1");
  if (transform.channels != 1 && transform.channels != 3)
    throw Error(fmt::format("channels must be 1 or 3, not {}", transform.channels));
  if (transform.size < 0) throw Error(fmt::format("image size must not be negative ({})", transform.size));
  m.items = dataset.size();
  if (m.items == 0) throw Error("the dataset is empty");
  if (options.shard_count == 0 || options.shard_index >= options.shard_count)
    throw Error(fmt::format("loader shard {} of {} does not exist", options.shard_index, options.shard_count));
  const size_t global_batch = options.batch_size * options.shard_count;
  m.batches = options.drop_last ? m.items / global_batch : (m.items + global_batch - 1) / global_batch;
  if (m.batches == 0)
    throw Error(fmt::format("{} items make no full batch of {} (drop_last is set)", m.items, global_batch));
  const int threads = std::max(1, options.threads);
  // Work is handed out per batch, so fewer batches in flight than threads would idle some.
  m.window = std::max<size_t>(static_cast<size_t>(threads), options.prefetch_batches);
  try {
    for (int i = 0; i < threads; ++i) m.threads.emplace_back([&m] { m.work(); });
  } catch (...) {
    m.stop = true;
    m.work_cv.notify_all();
    for (std::thread& t : m.threads) t.join();
    throw;
  }
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_all();
  for (std::thread& t : impl_->threads) t.join();
}

void BatchLoader::seek(uint64_t epoch, uint64_t batch) {
  Impl& m = *impl_;
  if (batch >= m.batches)
    throw Error(fmt::format("cannot resume at batch {} of an epoch of {} batches", batch, m.batches));
  if (epoch > (UINT64_MAX - batch) / m.batches) throw Error(fmt::format("cannot resume at epoch {}", epoch));
  std::lock_guard<std::mutex> lock(m.mu);
  ++m.generation;
  m.ready.clear();
  m.base = epoch * m.batches + batch;
  m.handed_out = m.consumed = 0;
  m.work_cv.notify_all();
}

Batch BatchLoader::next() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  if (!m.started) {
    m.started = true;
    m.work_cv.notify_all();
  }
  for (size_t empty = 0;;) {
    m.ready_cv.wait(lock, [&] { return m.ready.count(m.consumed) != 0; });
    auto it = m.ready.find(m.consumed);
    Impl::Result r = std::move(it->second);
    m.ready.erase(it);
    ++m.consumed;
    m.work_cv.notify_all();
    m.report(r.corrupt);
    if (r.error) std::rethrow_exception(r.error);
    if (r.batch.count > 0) return std::move(r.batch);
    if (++empty >= m.batches) {
      std::lock_guard<std::mutex> clock(m.corrupt_mu);
      throw Error(fmt::format("{}; no item of a whole epoch could be decoded ({} corrupt items)",
                              m.reported_messages.empty() ? "?" : m.reported_messages.front(), m.corrupt.size()));
    }
  }
}

uint64_t BatchLoader::epoch() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return (impl_->base + impl_->consumed) / impl_->batches;
}

uint64_t BatchLoader::batch_in_epoch() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return (impl_->base + impl_->consumed) % impl_->batches;
}

size_t BatchLoader::batches_per_epoch() const { return impl_->batches; }

size_t BatchLoader::skipped() const {
  std::lock_guard<std::mutex> lock(impl_->corrupt_mu);
  return impl_->reported_names.size();
}

std::vector<std::string> BatchLoader::skipped_names() const {
  std::lock_guard<std::mutex> lock(impl_->corrupt_mu);
  return impl_->reported_names;
}

std::vector<std::string> BatchLoader::skipped_messages() const {
  std::lock_guard<std::mutex> lock(impl_->corrupt_mu);
  return impl_->reported_messages;
}

}  // namespace hrvq
