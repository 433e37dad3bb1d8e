#include "hrvq/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hrvq/error.hpp"

namespace {

using hrvq::Error;

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class FileIo : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "hrvq-fileio-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(mkdtemp(buf.data()), nullptr);
    dir_ = buf.data();
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0755);
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }

  std::vector<std::string> entries(const std::string& dir) const {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
};

TEST_F(FileIo, WriteThenRead) {
  std::string path = dir_ + "/a.bin";
  std::vector<uint8_t> data(200000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  hrvq::write_file_atomic(path, data);
  EXPECT_EQ(hrvq::read_file(path), data);
  EXPECT_TRUE(hrvq::file_exists(path));
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"a.bin"});
}

TEST_F(FileIo, EmptyFile) {
  std::string path = dir_ + "/empty";
  hrvq::write_file_atomic(path, std::vector<uint8_t>{});
  EXPECT_TRUE(hrvq::read_file(path).empty());
}

TEST_F(FileIo, OverwriteReplacesAndLeavesNoTemporaries) {
  std::string path = dir_ + "/out.txt";
  hrvq::write_file_atomic(path, bytes_of("first version, longer"));
  hrvq::write_file_atomic(path, bytes_of("second"), true);
  EXPECT_EQ(hrvq::read_file(path), bytes_of("second"));
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"out.txt"});
}

TEST_F(FileIo, NoOverwriteRefusesExistingFile) {
  std::string path = dir_ + "/keep.txt";
  hrvq::write_file_atomic(path, bytes_of("original"), false);
  EXPECT_EQ(error_of([&] { hrvq::write_file_atomic(path, bytes_of("new"), false); }),
            path + ": exists (use --force to overwrite)");
  EXPECT_EQ(hrvq::read_file(path), bytes_of("original"));
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"keep.txt"});
}

TEST_F(FileIo, MissingFile) {
  std::string path = dir_ + "/nope.bin";
  EXPECT_EQ(error_of([&] { hrvq::read_file(path); }), path + ": No such file or directory");
  EXPECT_FALSE(hrvq::file_exists(path));
}

TEST_F(FileIo, ReadingADirectoryIsAnError) {
  EXPECT_EQ(error_of([&] { hrvq::read_file(dir_); }), dir_ + ": Is a directory");
}

TEST_F(FileIo, SizeLimit) {
  std::string path = dir_ + "/big";
  hrvq::write_file_atomic(path, std::vector<uint8_t>(100, 1));
  EXPECT_EQ(hrvq::read_file(path, 100).size(), 100u);
  std::string msg = error_of([&] { hrvq::read_file(path, 99); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("99"), std::string::npos) << msg;
}

TEST_F(FileIo, SizeLimitOnAPipe) {
  // A pipe has no size to check up front; the limit must hold while reading.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<uint8_t> data(5000, 9);
  ASSERT_EQ(write(fds[1], data.data(), data.size()), ssize_t(data.size()));
  close(fds[1]);
  std::string path = "/dev/fd/" + std::to_string(fds[0]);
  EXPECT_THROW(hrvq::read_file(path, 4999), Error);
  close(fds[0]);
}

TEST_F(FileIo, MissingDirectoryLeavesNothing) {
  std::string path = dir_ + "/no/such/dir/out.png";
  std::string msg = error_of([&] { hrvq::write_file_atomic(path, bytes_of("x")); });
  EXPECT_EQ(msg, path + ": No such file or directory");
  EXPECT_TRUE(entries(dir_).empty());
}

TEST_F(FileIo, UnwritableDirectoryLeavesNothing) {
  std::string sub = dir_ + "/ro";
  ASSERT_EQ(mkdir(sub.c_str(), 0555), 0);
  ASSERT_EQ(chmod(sub.c_str(), 0555), 0);
  if (access(sub.c_str(), W_OK) == 0) GTEST_SKIP() << "running with permission to write anywhere (root)";
  std::string path = sub + "/out.png";
  std::string msg = error_of([&] { hrvq::write_file_atomic(path, bytes_of("x")); });
  EXPECT_EQ(msg, path + ": Permission denied");
  EXPECT_TRUE(entries(sub).empty());
}

TEST_F(FileIo, TargetIsADirectoryLeavesNothing) {
  std::string target = dir_ + "/taken";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  std::string msg = error_of([&] { hrvq::write_file_atomic(target, bytes_of("x")); });
  EXPECT_EQ(msg.rfind(target + ": ", 0), 0u) << msg;
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"taken"});
}

TEST_F(FileIo, StdinAndStdout) {
  std::string in_path = dir_ + "/in", out_path = dir_ + "/out";
  hrvq::write_file_atomic(in_path, bytes_of("from stdin"));

  int saved_in = dup(STDIN_FILENO);
  int in_fd = open(in_path.c_str(), O_RDONLY);
  ASSERT_GE(in_fd, 0);
  dup2(in_fd, STDIN_FILENO);
  close(in_fd);
  std::vector<uint8_t> got = hrvq::read_file("-");
  dup2(saved_in, STDIN_FILENO);
  close(saved_in);
  EXPECT_EQ(got, bytes_of("from stdin"));

  std::fflush(stdout);
  int saved_out = dup(STDOUT_FILENO);
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(out_fd, 0);
  dup2(out_fd, STDOUT_FILENO);
  close(out_fd);
  hrvq::write_file_atomic("-", bytes_of("to stdout"), false);
  dup2(saved_out, STDOUT_FILENO);
  close(saved_out);
  EXPECT_EQ(hrvq::read_file(out_path), bytes_of("to stdout"));
}

TEST_F(FileIo, ConcurrentWritersNeverTearTheFile) {
  // Several writers racing on one path: the result is always one whole version.
  std::string path = dir_ + "/race";
  std::vector<std::vector<uint8_t>> versions;
  for (int i = 0; i < 4; ++i) versions.emplace_back(50000, static_cast<uint8_t>('a' + i));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 10; ++k) hrvq::write_file_atomic(path, versions[i]);
    });
  for (auto& t : threads) t.join();
  auto got = hrvq::read_file(path);
  EXPECT_NE(std::find(versions.begin(), versions.end(), got), versions.end());
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"race"});
}

TEST_F(FileIo, ConcurrentNoOverwriteWritersExactlyOneWins) {
  std::string path = dir_ + "/once";
  std::atomic<int> wins{0}, refusals{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      try {
        hrvq::write_file_atomic(path, std::vector<uint8_t>(1000, static_cast<uint8_t>(i)), false);
        ++wins;
      } catch (const Error&) {
        ++refusals;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(refusals.load(), 3);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"once"});
}

}  // namespace
