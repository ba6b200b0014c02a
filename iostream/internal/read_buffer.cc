#include "iostream/internal/read_buffer.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include "iostream/internal/state_pool.h"
#include "iostream/internal/thread_exit.h"

namespace gust {
namespace internal {
namespace {

// Streams on a busy loop allocate and free a read buffer of the default chunk size once per
// burst of data (an idle stream holds none). A few such blocks are kept per thread, so that
// this costs neither malloc nor the page faults of a heap that shrinks and grows back.
constexpr size_t kCachedCapacity = 64 * 1024;
// The least storage ShrinkToFit makes.
constexpr size_t kMinCapacity = 64;
constexpr size_t kMaxCachedBlocks = 32;

// Between the pool's blocks and a chunk, storage ShrinkToFit moves the rest of a burst into:
// 1 to 32 KiB, a power of two. A reader working through a burst of pipelined lines gets there
// several times (64 -> 16 -> 4 KiB), and each was a malloc: a few blocks of each size are kept.
constexpr size_t kFirstMidCapacity = 2 * kPooledBlockLimit;
constexpr int kMidClasses = std::countr_zero(kCachedCapacity / kFirstMidCapacity);
constexpr size_t kMaxMidBlocksPerClass = 4;
static_assert(std::has_single_bit(kPooledBlockLimit), "mid classes start past the pool's");

// Plain constinit data, so that taking and giving back a block (once per burst: on lines at
// pipeline 1, once per line) needs no thread-local initialization call; what it holds at
// thread exit is freed by a releaser made with the first block kept.
struct CachedBlocks {
  char* blocks[kMaxCachedBlocks];
  size_t count;
  char* mid_blocks[kMidClasses][kMaxMidBlocksPerClass];
  size_t mid_counts[kMidClasses];
  bool releaser_made;
};
constinit thread_local CachedBlocks cached_blocks{};

void ReleaseCachedBlocks() {
  while (cached_blocks.count > 0) delete[] cached_blocks.blocks[--cached_blocks.count];
  for (int c = 0; c < kMidClasses; ++c) {
    while (cached_blocks.mid_counts[c] > 0) {
      delete[] cached_blocks.mid_blocks[c][--cached_blocks.mid_counts[c]];
    }
  }
}

// The mid class of a capacity, or -1 (for any size but a power of two in the range too).
int MidClassOf(size_t capacity) {
  if (capacity < kFirstMidCapacity || capacity >= kCachedCapacity ||
      !std::has_single_bit(capacity)) {
    return -1;
  }
  return std::countr_zero(capacity / kFirstMidCapacity);
}

void MakeReleaser() {
  if (cached_blocks.releaser_made) return;
  cached_blocks.releaser_made = true;
  CallAtThreadExit<&ReleaseCachedBlocks>();
}

// The rest of a batch of lines, which ShrinkToFit moves out of the chunk it came in, is a few
// hundred bytes: a pooled block is a few instructions, where malloc and free were about 100 a
// batch. A chunk-sized block, taken and given back once per burst of data, is looked for first,
// and both are inline in their callers (calls cost 30 instructions a line at pipeline 1).
[[gnu::always_inline]] inline char* AllocateBlock(size_t capacity) {
  if (capacity == kCachedCapacity && cached_blocks.count > 0) {
    return cached_blocks.blocks[--cached_blocks.count];
  }
  if (capacity <= kPooledBlockLimit) return static_cast<char*>(PoolAllocate(capacity));
  if (const int c = MidClassOf(capacity); c >= 0 && cached_blocks.mid_counts[c] > 0) {
    return cached_blocks.mid_blocks[c][--cached_blocks.mid_counts[c]];
  }
  return std::make_unique_for_overwrite<char[]>(capacity).release();
}

[[gnu::always_inline]] inline void FreeBlock(char* block, size_t capacity) {
  if (capacity == kCachedCapacity && cached_blocks.count < kMaxCachedBlocks) {
    MakeReleaser();
    cached_blocks.blocks[cached_blocks.count++] = block;
    return;
  }
  if (capacity <= kPooledBlockLimit) return PoolFree(block, capacity);
  if (const int c = MidClassOf(capacity);
      c >= 0 && cached_blocks.mid_counts[c] < kMaxMidBlocksPerClass) {
    MakeReleaser();
    cached_blocks.mid_blocks[c][cached_blocks.mid_counts[c]++] = block;
    return;
  }
  delete[] block;
}

}  // namespace

ReadBuffer::~ReadBuffer() {
  if (data_ != nullptr) FreeBlock(data_, capacity_);
}

absl::Span<char> ReadBuffer::PrepareAppend(size_t min_free, size_t min_capacity) {
  if (capacity_ - end_ < min_free) {
    const size_t live = size();
    if (start_ >= live && capacity_ - live >= min_free) {
      // The dead prefix is at least as large as the live data: moving the live data costs no
      // more than the bytes consumed since the last move.
      std::memmove(data_, data_ + start_, live);
    } else {
      // Powers of two, so that a stream holding part of a line gets a cached chunk-sized block
      // back, not a block of chunk + line that nothing reuses.
      const size_t capacity =
          std::bit_ceil(std::max({capacity_ * 2, live + min_free, min_capacity}));
      char* data = AllocateBlock(capacity);
      if (live > 0) std::memcpy(data, data_ + start_, live);
      if (data_ != nullptr) FreeBlock(data_, capacity_);
      data_ = data;
      capacity_ = capacity;
    }
    start_ = 0;
    end_ = live;
  }
  return absl::Span<char>(data_ + end_, capacity_ - end_);
}

void ReadBuffer::Append(absl::string_view data) {
  if (data.empty()) return;
  absl::Span<char> space = PrepareAppend(data.size());
  std::memcpy(space.data(), data.data(), data.size());
  CommitAppend(data.size());
}

void ReadBuffer::Prepend(absl::string_view data) {
  if (data.empty()) return;
  if (start_ >= data.size()) {
    start_ -= data.size();
    std::memcpy(data_ + start_, data.data(), data.size());
    return;
  }
  const size_t live = size();
  const size_t capacity = std::bit_ceil(std::max(capacity_, live + data.size()));
  char* block = AllocateBlock(capacity);
  std::memcpy(block, data.data(), data.size());
  if (live > 0) std::memcpy(block + data.size(), data_ + start_, live);
  if (data_ != nullptr) FreeBlock(data_, capacity_);
  data_ = block;
  capacity_ = capacity;
  start_ = 0;
  end_ = live + data.size();
}

void ReadBuffer::TakeInto(size_t n, char* out) {
  if (n > 0) std::memcpy(out, data_ + start_, n);
  Consume(n);
}

void ReadBuffer::Shrink() {
  const size_t live = size();
  const size_t fit = std::bit_ceil(std::max(live, kMinCapacity));
  if (capacity_ < 4 * fit) return;  // (ShrinkToFit has left small storage alone already)
  char* block = AllocateBlock(fit);
  std::memcpy(block, data_ + start_, live);
  FreeBlock(data_, capacity_);
  data_ = block;
  capacity_ = fit;
  start_ = 0;
  end_ = live;
}

void ReadBuffer::Release() {
  FreeBlock(data_, capacity_);
  data_ = nullptr;
  capacity_ = start_ = end_ = 0;
}

}  // namespace internal
}  // namespace gust
