#include "hrvq/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "hrvq/error.hpp"

namespace hrvq {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void throw_errno(const std::string& name, int err) {
  throw Error(fmt::format("{}: {}", name, errno_text(err)));
}

// Owns a file descriptor so every early exit (throw included) closes it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closing is where NFS and full disks report deferred write errors, so its result matters.
  int close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd);
  }

 private:
  int fd_;
};

void read_all(int fd, const std::string& name, uint64_t max_bytes, std::vector<uint8_t>& out) {
  constexpr size_t kChunk = 1 << 16;
  for (;;) {
    size_t old_size = out.size();
    // Read one byte past the limit so "exactly max_bytes" and "more" are told apart.
    uint64_t room = max_bytes + 1 - old_size;
    size_t want = room < kChunk ? static_cast<size_t>(room) : kChunk;
    out.resize(old_size + want);
    ssize_t got = ::read(fd, out.data() + old_size, want);
    if (got < 0) {
      out.resize(old_size);
      if (errno == EINTR) continue;
      throw_errno(name, errno);
    }
    out.resize(old_size + static_cast<size_t>(got));
    if (got == 0) return;
    if (out.size() > max_bytes)
      throw Error(fmt::format("{}: file is larger than the limit of {} bytes", name, max_bytes));
  }
}

// Returns 0 or the errno of the failed write.
int write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t put = ::write(fd, data, size);
    if (put < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += put;
    size -= static_cast<size_t>(put);
  }
  return 0;
}

// Removes the temporary file unless the rename succeeded.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

std::string temp_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return fmt::format("{}.tmp-{}-{}", path, static_cast<long>(::getpid()), counter.fetch_add(1));
}

// Moves tmp onto path without replacing an existing file. link() fails with EEXIST even
// when the file appears between our check and now; file systems without hard links fall
// back to check-then-rename, which is the best they allow.
void publish_no_replace(const std::string& tmp, const std::string& path) {
  if (::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return;
  }
  int err = errno;
  if (err == EEXIST) throw Error(fmt::format("{}: exists (use --force to overwrite)", path));
  if (err != EPERM && err != EOPNOTSUPP && err != ENOSYS && err != EXDEV && err != EMLINK) throw_errno(path, err);
  if (file_exists(path)) throw Error(fmt::format("{}: exists (use --force to overwrite)", path));
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(path, errno);
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
  std::vector<uint8_t> out;
  if (path == "-") {
    read_all(STDIN_FILENO, "stdin", max_bytes, out);
    return out;
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno(path, errno);
  if (S_ISDIR(st.st_mode)) throw_errno(path, EISDIR);
  if (S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > max_bytes)
      throw Error(fmt::format("{}: file is larger than the limit of {} bytes", path, max_bytes));
    out.reserve(static_cast<size_t>(st.st_size) + 1);
  }
  read_all(fd.get(), path, max_bytes, out);
  return out;
}

void write_file_atomic(const std::string& path, const uint8_t* data, size_t size, bool overwrite) {
  if (path == "-") {
    // Anything already buffered in stdio must come out before our bytes.
    std::fflush(stdout);
    if (int err = write_all(STDOUT_FILENO, data, size)) throw_errno("stdout", err);
    return;
  }
  if (path.empty()) throw Error("empty output path");
  if (!overwrite && file_exists(path)) throw Error(fmt::format("{}: exists (use --force to overwrite)", path));

  std::string tmp = temp_path_for(path);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    int err = errno;
    // The temporary's name is our invention; report the path the user asked for.
    throw_errno(path, err);
  }
  TempFileGuard guard(tmp);
  if (int err = write_all(fd.get(), data, size)) throw_errno(path, err);
  if (fd.close() != 0) throw_errno(path, errno);

  if (overwrite) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(path, errno);
  } else {
    publish_no_replace(tmp, path);
  }
  guard.release();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace hrvq
