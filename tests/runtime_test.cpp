// init_runtime's process settings: torch's thread count and glibc malloc's retention of
// freed memory (runtime.cpp), which saves the page faults of re-mapping a network's
// activations on every call.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <torch/torch.h>

#include "hrvq/runtime.hpp"

namespace hrvq {
namespace {

TEST(Runtime, SetsTorchThreads) {
  init_runtime(1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_EQ(runtime_threads(), 1);
  init_runtime(0);
  EXPECT_GE(torch::get_num_threads(), 1);
  EXPECT_EQ(runtime_threads(), torch::get_num_threads());
}

#if defined(__GLIBC__)
TEST(Runtime, FreedActivationSizedBlocksStayWithTheProcess) {
  init_runtime(0);
  // 16 MiB: the size of one large activation tensor. glibc's defaults would mmap it and
  // unmap it on free; after init_runtime it comes from the heap and stays there, free
  // for the next allocation.
  constexpr size_t kBytes = size_t{16} << 20;
  const size_t mapped_before = mallinfo2().hblkhd;
  void* block = std::malloc(kBytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);
  const size_t mapped_while_held = mallinfo2().hblkhd, heap_while_held = mallinfo2().arena;
  std::free(block);
  EXPECT_LT(mapped_while_held, mapped_before + kBytes) << "the block was mmapped";
  EXPECT_GE(mallinfo2().arena, heap_while_held) << "freeing the block shrank the heap";
}
#endif

}  // namespace
}  // namespace hrvq
