// Data-parallel training on c10d/Gloo over loopback: real hrvq processes, two ranks.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <map>

#include <gtest/gtest.h>

#include "distributed.hpp"
#include "engine_support.hpp"
#include "hrvq/error.hpp"
#include "model_io.hpp"

namespace hrvq {
namespace {

using test::CommandResult;
using test::TempDir;

// A port nobody listens on right now (the kernel's choice for an ephemeral bind).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// A small model that trains in a second: 16x16 MNIST-format images, 3 layers of 4 codes.
std::string tiny_flags(const std::string& data, int steps) {
  return fmt::format(
      "--preset mnist --data {} --channels 8 --res-blocks 1 --res-channels 4 --embed-dim 4 -n 3 -m 4 --size 16 "
      "--fit resize --steps {} --lr 2e-3 --log-every 5 --checkpoint-every 5 --count-images 64 --loader-threads 1 "
      "--dist-timeout 30",
      data, steps);
}

struct RankRun {
  int exit_code = -1;
  std::string err;
};

// Starts `world` ranks of `hrvq --threads 1 COMMAND` as a hand-launched job (the
// variables torchrun would set) and waits for all of them; `after_start` runs in the
// shell while they run (e.g. to kill one).
std::vector<RankRun> run_job(const TempDir& dir, int world, const std::string& command, const std::string& after_start = "") {
  const int port = free_port();
  std::string script;
  for (int r = 0; r < world; ++r)
    // pidN is hrvq's own pid (sh execs it), so a test can kill exactly that rank.
    script += fmt::format(
        "(RANK={0} WORLD_SIZE={1} LOCAL_RANK={0} MASTER_ADDR=127.0.0.1 MASTER_PORT={2} timeout 120 "
        "sh -c 'echo $$ >{7}; exec {3} --threads 1 {4}' >{8} 2>{5}; echo $? >{6}) &\n",
        r, world, port, HRVQ_BINARY, command, dir / fmt::format("err{}", r), dir / fmt::format("rc{}", r),
        dir / fmt::format("pid{}", r), dir / fmt::format("out{}", r));
  script += after_start + "\nwait\n";
  const std::string path = dir / "job.sh";
  std::ofstream(path) << script;
  test::run("bash " + path);
  std::vector<RankRun> runs(world);
  for (int r = 0; r < world; ++r) {
    runs[r].err = test::slurp(dir / fmt::format("err{}", r));
    std::string rc = test::slurp(dir / fmt::format("rc{}", r));
    if (!rc.empty()) runs[r].exit_code = std::stoi(rc);
  }
  return runs;
}

std::map<std::string, torch::Tensor> state_of(const std::string& model_path) {
  LoadedModel m = load_model(model_path, torch::kCPU);
  std::map<std::string, torch::Tensor> state;
  for (auto& p : m.net->named_parameters()) state[p.key()] = p.value().detach().clone();
  for (auto& b : m.net->named_buffers()) state[b.key()] = b.value().detach().clone();
  return state;
}

std::string rank_errors(const std::vector<RankRun>& runs) {
  std::string s;
  for (size_t r = 0; r < runs.size(); ++r) s += fmt::format("rank {} exit {}: {}\n", r, runs[r].exit_code, runs[r].err);
  return s;
}

class DistributedTraining : public ::testing::Test {
 protected:
  void SetUp() override { test::write_mnist_gz(data_, 96); }
  TempDir dir_;
  std::string data_ = dir_ / "digits.gz";
};

TEST(RankEnvironment, ReadsTorchrunVariables) {
  std::map<std::string, std::string> vars;
  auto env = [&] {
    return rank_environment_from([&](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  };
  EXPECT_FALSE(env().distributed());
  vars = {{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"}, {"MASTER_PORT", "29400"},
          {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}};
  RankEnvironment e = env();
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.master_addr, "10.0.0.2");
  EXPECT_EQ(e.master_port, 29400);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.restart_count, 2);
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  EXPECT_FALSE(env().agent_store);
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"RANK", "4"}, {"RANK", "-1"}, {"RANK", "x"}, {"WORLD_SIZE", "0"}, {"MASTER_PORT", "70000"}}) {
    auto saved = vars;
    vars[key] = value;
    EXPECT_THROW(env(), Error) << key << "=" << value;
    vars = saved;
  }
  vars.erase("WORLD_SIZE");
  try {
    env();
    FAIL() << "RANK without WORLD_SIZE was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("WORLD_SIZE"), std::string::npos) << err.what();
  }
}

// Two ranks with batch B train the same model as one process with batch 2B on the same
// data order: same initial codebooks, same gradients (up to float summation order).
TEST_F(DistributedTraining, TwoRanksMatchOneProcessWithTheWholeBatch) {
  auto single = test::run(fmt::format("{} -q --threads 1 train {} --batch 8 --reseed-after 0 -o {}", HRVQ_BINARY,
                                      tiny_flags(data_, 12), dir_ / "one.hrvqm"));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  auto runs = run_job(dir_, 2, "train " + tiny_flags(data_, 12) + " --batch 4 --reseed-after 0 -o " + (dir_ / "two.hrvqm"));
  ASSERT_EQ(runs[0].exit_code, 0) << rank_errors(runs);
  ASSERT_EQ(runs[1].exit_code, 0) << rank_errors(runs);
  EXPECT_NE(runs[0].err.find("global batch 8"), std::string::npos) << runs[0].err;
  EXPECT_EQ(runs[1].err, "") << "only rank 0 reports progress";

  auto one = state_of(dir_ / "one.hrvqm"), two = state_of(dir_ / "two.hrvqm");
  ASSERT_EQ(one.size(), two.size());
  double worst = 0;
  for (auto& [name, t] : one) {
    ASSERT_TRUE(two.count(name)) << name;
    if (!t.is_floating_point()) {
      EXPECT_TRUE(torch::equal(t, two[name])) << name;
      continue;
    }
    double scale = t.abs().max().item<double>() + 1e-3;
    worst = std::max(worst, (t - two[name]).abs().max().item<double>() / scale);
  }
  EXPECT_LT(worst, 1e-3) << "largest relative difference between the 1-process and 2-rank weights";
  // The code counts the entropy coder uses are gathered by both ranks and summed.
  EXPECT_EQ(load_model(dir_ / "one.hrvqm", torch::kCPU).counts, load_model(dir_ / "two.hrvqm", torch::kCPU).counts);
}

// The all-reduce overlapped with the backward pass against the one after it: the same
// sums, so the same weights bit for bit. Buckets of 256 bytes make many of them start
// inside the backward pass, and layer dropout leaves some codebooks without a gradient,
// so their buckets wait for the end of the step.
TEST_F(DistributedTraining, OverlappedAllReduceGivesTheSameWeightsBitForBit) {
  const std::string flags = tiny_flags(data_, 12) + " --batch 4 --layer-dropout 0.5 --reseed-after 3 --dist-bucket-bytes 256 ";
  auto on = run_job(dir_, 2, "train " + flags + "--dist-overlap on -o " + (dir_ / "on.hrvqm"));
  ASSERT_EQ(on[0].exit_code, 0) << rank_errors(on);
  ASSERT_EQ(on[1].exit_code, 0) << rank_errors(on);
  auto off = run_job(dir_, 2, "train " + flags + "--dist-overlap off -o " + (dir_ / "off.hrvqm"));
  ASSERT_EQ(off[0].exit_code, 0) << rank_errors(off);
  EXPECT_NE(on[0].err.find("overlapped with the backward pass"), std::string::npos) << on[0].err;
  EXPECT_EQ(off[0].err.find("overlapped"), std::string::npos) << off[0].err;
  const auto at = on[0].err.find(" bucket(s)");
  ASSERT_NE(at, std::string::npos) << on[0].err;
  EXPECT_GT(std::stoi(on[0].err.substr(on[0].err.rfind(' ', at - 1) + 1)), 10) << on[0].err;
  auto a = state_of(dir_ / "on.hrvqm"), b = state_of(dir_ / "off.hrvqm");
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b[name])) << name << " differs between the two strategies";
}

// EMA codebooks and dead-code reseeding on every few steps: the replica check at every
// checkpoint fails the run if any rank's codebooks differ by a single bit.
TEST_F(DistributedTraining, CodebooksStayIdenticalThroughEmaAndReseeding) {
  auto runs = run_job(dir_, 2, "train " + tiny_flags(data_, 20) + " --batch 4 --ema --reseed-after 2 -o " + (dir_ / "m.hrvqm"));
  ASSERT_EQ(runs[0].exit_code, 0) << rank_errors(runs);
  ASSERT_EQ(runs[1].exit_code, 0) << rank_errors(runs);
  std::string log = test::slurp(dir_ / "m.hrvqm.log.jsonl");
  auto at = log.rfind("\"reseeded\":");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stoll(log.substr(at + 11)), 0) << "no code was reseeded, so the test shows nothing";
}

TEST_F(DistributedTraining, AKilledRankEndsTheJobWithAnError) {
  auto start = std::chrono::steady_clock::now();
  // Rank 1 is killed once rank 0 has logged its first steps.
  auto runs = run_job(dir_, 2, "train " + tiny_flags(data_, 1000000) + " --batch 4 -o " + (dir_ / "m.hrvqm"),
                      fmt::format("for i in $(seq 300); do grep -q 'step 5/' {} && break; sleep 0.1; done; "
                                  "kill -9 $(cat {})",
                                  dir_ / "err0", dir_ / "pid1"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(runs[0].exit_code, 0) << rank_errors(runs);
  EXPECT_NE(runs[0].exit_code, 124) << "rank 0 hung until the test's timeout";
  EXPECT_LT(seconds, 60);
  EXPECT_NE(runs[0].err.find("hrvq: rank 0 of 2: "), std::string::npos) << runs[0].err;
  EXPECT_NE(runs[0].err.find("left the job"), std::string::npos) << runs[0].err;
  EXPECT_EQ(test::count_lines(runs[0].err.substr(runs[0].err.find("hrvq: rank 0"))), 1u) << runs[0].err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "m.hrvqm.ckpt")) << "the last good checkpoint stays";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "m.hrvqm")) << "no model from a failed job";
}

// A rank that hangs (stopped, not dead: its sockets stay open) ends the job after
// --dist-timeout, not never.
TEST_F(DistributedTraining, AStalledRankEndsTheJobAfterTheTimeout) {
  auto start = std::chrono::steady_clock::now();
  std::string flags = tiny_flags(data_, 1000000);
  flags.replace(flags.find("--dist-timeout 30"), 17, "--dist-timeout 4");
  auto runs = run_job(dir_, 2, "train " + flags + " --batch 4 -o " + (dir_ / "m.hrvqm"),
                      fmt::format("for i in $(seq 300); do grep -q 'step 5/' {0} && break; sleep 0.1; done; "
                                  "kill -STOP $(cat {1}); while [ ! -s {2} ]; do sleep 0.2; done; kill -9 $(cat {1})",
                                  dir_ / "err0", dir_ / "pid1", dir_ / "rc0"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(runs[0].exit_code, 0) << rank_errors(runs);
  EXPECT_NE(runs[0].exit_code, 124) << "rank 0 hung until the test's timeout";
  EXPECT_LT(seconds, 60);
  EXPECT_NE(runs[0].err.find("stalled past the 4 s timeout"), std::string::npos) << runs[0].err;
}

// A checkpoint of a 2-rank job resumes exactly with 2 ranks, and continues with 1.
TEST_F(DistributedTraining, ACheckpointResumesExactlyWithTheSameRanks) {
  std::string flags = tiny_flags(data_, 20) + " --batch 4 --reseed-after 3 ";
  auto whole = run_job(dir_, 2, "train " + flags + "-o " + (dir_ / "whole.hrvqm"));
  ASSERT_EQ(whole[0].exit_code, 0) << rank_errors(whole);
  auto first = run_job(dir_, 2, "train " + flags + "--stop-after 10 -o " + (dir_ / "split.hrvqm"));
  ASSERT_EQ(first[0].exit_code, 130) << rank_errors(first);
  ASSERT_EQ(first[1].exit_code, 130) << rank_errors(first);
  auto second = run_job(dir_, 2, "train " + flags + "--resume -o " + (dir_ / "split.hrvqm"));
  ASSERT_EQ(second[0].exit_code, 0) << rank_errors(second);
  auto a = state_of(dir_ / "whole.hrvqm"), b = state_of(dir_ / "split.hrvqm");
  for (auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b[name])) << name << " differs after an exact resume";

  // One process continues the 2-rank checkpoint, saying it is not bit-exact.
  std::filesystem::copy_file(dir_ / "split.hrvqm.ckpt", dir_ / "solo.hrvqm.ckpt");
  auto solo = test::run(fmt::format("{} --threads 1 train {} --batch 4 --reseed-after 3 --resume -o {}", HRVQ_BINARY,
                                    tiny_flags(data_, 25), dir_ / "solo.hrvqm"));
  ASSERT_EQ(solo.exit_code, 0) << solo.err;
  EXPECT_NE(solo.err.find("not bit-exactly"), std::string::npos) << solo.err;
}

// The code prior: two ranks of batch B against one process of batch 2B.
TEST_F(DistributedTraining, PriorTrainingMatchesOneProcess) {
  // The bundled MNIST model: its codes vary from image to image, so the batch matters
  // (a freshly trained tiny model gives every image the same codes).
  const std::string model = std::string(HRVQ_SOURCE_DIR) + "/models/mnist.hrvqm";
  auto prior_flags = [&](int batch, const std::string& out) {
    return fmt::format("train-prior -m {} --data {} --subset 0:64 --holdout 64:96 --channels 8 --layers 2 --embed 4 "
                       "--cond-channels 8 --cond-blocks 1 --steps 12 --batch {} --lr 1e-2 --log-every 4 "
                       "--checkpoint-every 6 --loader-threads 1 --json -o {}",
                       model, data_, batch, out);
  };
  auto one = test::run(fmt::format("{} -q --threads 1 {}", HRVQ_BINARY, prior_flags(8, dir_ / "p1.hrvqm")));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto runs = run_job(dir_, 2, prior_flags(4, dir_ / "p2.hrvqm"));
  ASSERT_EQ(runs[0].exit_code, 0) << rank_errors(runs);
  ASSERT_EQ(runs[1].exit_code, 0) << rank_errors(runs);
  EXPECT_NE(runs[0].err.find("global batch 8"), std::string::npos) << runs[0].err;
  // Rank 0 prints the same held-out figures as the single process.
  std::string two = test::slurp(dir_ / "out0");
  auto bits = [](const std::string& json) {
    auto at = json.find("\"bits_per_image\":");
    return at == std::string::npos ? -1.0 : std::stod(json.substr(at + 17));
  };
  ASSERT_GT(bits(one.out), 0) << one.out;
  EXPECT_NEAR(bits(two), bits(one.out), 2e-4 * bits(one.out)) << two << "\n" << one.out;
  // The tolerance tells batches apart: one process with only batch 4 lands elsewhere.
  auto half = test::run(fmt::format("{} -q --threads 1 {}", HRVQ_BINARY, prior_flags(4, dir_ / "p3.hrvqm")));
  ASSERT_EQ(half.exit_code, 0) << half.err;
  EXPECT_GT(std::abs(bits(half.out) - bits(one.out)), 5e-4 * bits(one.out)) << half.out << "\n" << one.out;
}

TEST_F(DistributedTraining, RunsUnderTorchrun) {
  if (std::system("command -v torchrun >/dev/null 2>&1") != 0) GTEST_SKIP() << "torchrun is not installed (python3-torch)";
  // Debian's torchrun (torch 1.13, Python 3.11) needs --redirects/--tee to start.
  auto r = test::run(fmt::format(
      "timeout 180 torchrun --no_python --nproc_per_node 2 --master_port {} --redirects 1 --tee 1 {} --threads 1 "
      "train {} --batch 4 -o {}",
      free_port(), HRVQ_BINARY, tiny_flags(data_, 10), dir_ / "t.hrvqm"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("2 ranks x batch 4 = global batch 8"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "t.hrvqm"));
}

}  // namespace
}  // namespace hrvq
