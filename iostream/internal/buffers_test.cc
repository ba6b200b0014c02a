// Unit tests of the stream buffers' invariants (Tornado's TestStreamBuffer, B091 and B092, with
// gust's own thresholds), and of the read buffer's amortized compaction.

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "iostream/internal/fifo.h"
#include "iostream/internal/read_buffer.h"
#include "iostream/internal/spare_strings.h"
#include "iostream/internal/write_buffer.h"

namespace gust {
namespace internal {
namespace {

std::string Gather(const WriteBuffer& buffer) {
  iovec iov[64];
  const int n = buffer.Peek(iov, 64);
  std::string out;
  for (int i = 0; i < n; ++i) out.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

// B091: small pieces coalesce; length and contents stay right through random advances.
TEST(WriteBufferTest, B091_SmallPiecesCoalesce) {
  WriteBuffer buffer;
  std::string expected;
  for (int i = 0; i < 9; ++i) {
    buffer.Append(absl::string_view("x"));
    expected += "x";
  }
  EXPECT_EQ(buffer.chunk_count(), 1u);
  // Fill the coalescing chunk to its limit: the next piece starts a second chunk.
  const std::string piece(WriteBuffer::kSmallPiece, 's');
  while (buffer.size() + piece.size() <= WriteBuffer::kChunkLimit) {
    buffer.Append(absl::string_view(piece));
    expected += piece;
  }
  EXPECT_EQ(buffer.chunk_count(), 1u);
  buffer.Append(absl::string_view(piece));
  expected += piece;
  EXPECT_EQ(buffer.chunk_count(), 2u);
  std::mt19937 random(1);
  while (!buffer.empty()) {
    ASSERT_EQ(buffer.size(), expected.size());
    ASSERT_EQ(Gather(buffer), expected);
    const size_t n = std::min<size_t>(buffer.size(), 1 + random() % 5000);
    buffer.Advance(n);
    expected.erase(0, n);
  }
  EXPECT_EQ(buffer.chunk_count(), 0u);
}

// B092: large pieces stay separate chunks (a moved string is adopted without a copy); a small
// piece after them starts a new coalescing chunk.
TEST(WriteBufferTest, B092_LargePiecesStaySeparate) {
  WriteBuffer buffer;
  std::string big(WriteBuffer::kSmallPiece + 1, 'b');
  const char* big_data = big.data();
  buffer.Append(std::move(big));
  buffer.Append(absl::string_view(std::string(WriteBuffer::kSmallPiece + 1, 'c')));
  buffer.Append(absl::string_view(std::string(WriteBuffer::kSmallPiece + 1, 'd')));
  EXPECT_EQ(buffer.chunk_count(), 3u);
  iovec iov[64];
  ASSERT_EQ(buffer.Peek(iov, 64), 3);
  EXPECT_EQ(iov[0].iov_base, big_data);  // adopted, not copied
  buffer.Append(absl::string_view("e"));
  buffer.Append(absl::string_view("f"));
  EXPECT_EQ(buffer.chunk_count(), 4u);
  buffer.Advance(3 * (WriteBuffer::kSmallPiece + 1));
  EXPECT_EQ(buffer.chunk_count(), 1u);
  EXPECT_EQ(Gather(buffer), "ef");
  buffer.Advance(2);
  EXPECT_EQ(buffer.chunk_count(), 0u);
  EXPECT_EQ(buffer.size(), 0u);
}

// The coalescing chunk is kept at its full size and filled to a mark; a large piece after it
// ends it at its mark, and a chunk ended that way serves later small pieces once sent.
TEST(WriteBufferTest, AChunkEndedByALargePieceIsReusedWhole) {
  WriteBuffer buffer;
  const std::string large(WriteBuffer::kSmallPiece + 1, 'L');
  for (int round = 0; round < 3; ++round) {
    buffer.Append(absl::string_view("ab"));
    buffer.Append(absl::string_view(large));
    buffer.Append(absl::string_view("cd"));
    buffer.Append(absl::string_view("ef"));
    EXPECT_EQ(buffer.chunk_count(), 3u);
    EXPECT_EQ(buffer.size(), 6 + large.size());
    EXPECT_EQ(Gather(buffer), "ab" + large + "cdef");
    buffer.Advance(1);
    EXPECT_EQ(Gather(buffer), "b" + large + "cdef");
    buffer.Advance(buffer.size());
    EXPECT_EQ(buffer.chunk_count(), 0u);
  }
}

// A request/response stream's one answer, moved into an empty buffer with nothing expected
// after it, is sent from its own storage (no chunk to copy it into), which then holds the next
// line read; small pieces behind it are still coalesced, and so are answers not alone.
TEST(WriteBufferTest, ASmallStringIntoAnEmptyBufferIsAdoptedAndThenKept) {
  WriteBuffer buffer;
  std::string answer(100, 'a');
  const char* answer_data = answer.data();
  buffer.Append(std::string(100, 'z'));  // not alone: copied into a coalescing chunk
  EXPECT_EQ(buffer.chunk_count(), 1u);
  buffer.Advance(100);
  EXPECT_EQ(buffer.chunk_count(), 0u);
  buffer.Append(std::move(answer), /*alone=*/true);
  buffer.Append(std::string(100, 'b'), /*alone=*/true);  // behind the answer: copied
  buffer.Append(absl::string_view("cd"));
  EXPECT_EQ(buffer.chunk_count(), 2u);
  iovec iov[4];
  ASSERT_EQ(buffer.Peek(iov, 4), 2);
  EXPECT_EQ(iov[0].iov_base, answer_data);
  EXPECT_EQ(Gather(buffer), std::string(100, 'a') + std::string(100, 'b') + "cd");
  buffer.Advance(100);
  EXPECT_EQ(buffer.chunk_count(), 1u);
  const std::string line(90, 'x');
  const std::string copy = CopyIntoSpareString(line.data(), line.size());
  EXPECT_EQ(copy.data(), answer_data);
  EXPECT_EQ(copy, line);
  buffer.Append(std::string(), /*alone=*/true);  // nothing to adopt: no empty chunk
  EXPECT_EQ(buffer.chunk_count(), 1u);
  buffer.Advance(buffer.size());
  EXPECT_EQ(buffer.chunk_count(), 0u);
  buffer.Append(std::string(), /*alone=*/true);
  EXPECT_EQ(buffer.chunk_count(), 0u);
  EXPECT_TRUE(buffer.empty());
}

TEST(WriteBufferTest, PeekStopsAtTheIovecLimit) {
  WriteBuffer buffer;
  for (int i = 0; i < 10; ++i) buffer.Append(std::string(WriteBuffer::kSmallPiece + 1, 'a' + i));
  iovec iov[4];
  EXPECT_EQ(buffer.Peek(iov, 4), 4);
  buffer.Advance(10);
  ASSERT_EQ(buffer.Peek(iov, 4), 4);
  EXPECT_EQ(iov[0].iov_len, WriteBuffer::kSmallPiece + 1 - 10);
}

// Consuming a byte at a time from a large buffer moves each byte O(1) times: the dead prefix is
// reclaimed only when it is at least as large as the live data.
TEST(ReadBufferTest, SmallConsumesAreAmortizedConstant) {
  ReadBuffer buffer;
  std::string expected;
  std::mt19937 random(2);
  size_t consumed = 0;
  for (int round = 0; round < 2000; ++round) {
    const size_t add = random() % 300;
    absl::Span<char> space = buffer.PrepareAppend(add);
    for (size_t i = 0; i < add; ++i) space[i] = static_cast<char>('a' + (consumed + expected.size() + i) % 26);
    buffer.CommitAppend(add);
    for (size_t i = 0; i < add; ++i) {
      expected += static_cast<char>('a' + (consumed + expected.size()) % 26);
    }
    const size_t take = std::min<size_t>(buffer.size(), random() % 300);
    ASSERT_EQ(buffer.Take(take), expected.substr(0, take));
    expected.erase(0, take);
    consumed += take;
    ASSERT_EQ(buffer.view(), expected);
  }
  // The capacity stays proportional to the live data, not to everything that went through.
  EXPECT_LT(buffer.capacity(), 64 * 1024u);
}

// A stream that asks for half a chunk of room while it holds a few bytes (the start of a line)
// gets a chunk-sized block, the size the thread's cache holds, not a chunk plus those bytes.
TEST(ReadBufferTest, GrowsInPowersOfTwoAndAtLeastToTheCapacityAskedFor) {
  ReadBuffer buffer;
  buffer.PrepareAppend(1, 64 * 1024);
  EXPECT_EQ(buffer.capacity(), 64 * 1024u);
  buffer.Append(std::string(64 * 1024 - 60, 'a'));
  buffer.Append(std::string(60, 'b'));
  buffer.Consume(64 * 1024 - 60);
  buffer.ShrinkToFit();
  ASSERT_EQ(buffer.capacity(), 64u);
  absl::Span<char> room = buffer.PrepareAppend(32 * 1024, 64 * 1024);
  EXPECT_EQ(buffer.capacity(), 64 * 1024u);
  EXPECT_EQ(room.size(), 64 * 1024u - 60);
  EXPECT_EQ(buffer.view(), std::string(60, 'b'));
  buffer.PrepareAppend(100 * 1024);  // more than it has: doubling, to a power of two
  EXPECT_EQ(buffer.capacity(), 128 * 1024u);
  EXPECT_EQ(buffer.view(), std::string(60, 'b'));
}

// What a stream keeps while it waits for the rest of a line: the line's bytes, not the block
// they were read into; small storage is left alone (moving it would gain nothing).
TEST(ReadBufferTest, ShrinkToFitMovesALittleDataOutOfALargeBlock) {
  ReadBuffer buffer;
  buffer.Append(std::string(20000, 'a') + "tail");
  ASSERT_GE(buffer.capacity(), 20004u);
  buffer.Consume(10000);
  buffer.ShrinkToFit();  // 10004 bytes fill more than a quarter of 32 KiB: kept
  EXPECT_EQ(buffer.capacity(), 32 * 1024u);
  buffer.Consume(10000);
  buffer.ShrinkToFit();
  EXPECT_EQ(buffer.capacity(), 64u);
  EXPECT_EQ(buffer.view(), "tail");
  buffer.ShrinkToFit();
  EXPECT_EQ(buffer.capacity(), 64u);
  buffer.Consume(4);
  buffer.ShrinkToFit();
  EXPECT_EQ(buffer.capacity(), 0u);
}

TEST(ReadBufferTest, ReleasesStorageWhenEmpty) {
  ReadBuffer buffer;
  buffer.Append("abc");
  EXPECT_GT(buffer.capacity(), 0u);
  buffer.ReleaseIfEmpty();
  EXPECT_GT(buffer.capacity(), 0u);  // not empty yet
  buffer.Consume(3);
  buffer.ReleaseIfEmpty();
  EXPECT_EQ(buffer.capacity(), 0u);
}

// Only strings that can serve a read are kept, not oversized ones, and no more than a bounded
// number of bytes of them per thread; a read gets one large enough, a copy one that fits.
TEST(SpareStringsTest, KeepsBoundedBytesOfUsefulStringsAndHandsOutFittingOnes) {
  std::thread([] {  // a thread of its own: the strings are kept per thread
    KeepSpareString(std::string(kMinSpareSize - 1, 'a'));  // too small
    std::string oversized(kMinSpareSize, 'b');
    oversized.reserve(kMaxSpareCapacity + 1);
    KeepSpareString(std::move(oversized));
    EXPECT_TRUE(TakeSpareString(0, SIZE_MAX).empty());
    const size_t size = 64 * 1024;
    for (size_t i = 0; i < kMaxSpareBytes / size + 4; ++i) {
      KeepSpareString(std::string(size, 'c'));
    }
    EXPECT_TRUE(TakeSpareString(size + 1, SIZE_MAX).empty());
    EXPECT_TRUE(TakeSpareString(size, size - 1).empty());  // a smaller block is wanted
    const std::string large = TakeSpareString(size, size);
    EXPECT_EQ(large.size(), size);
    // A copy goes into a kept string only if it fills a quarter of it or more.
    const std::string small(size / 4 - 1, 'd');
    std::string copy = CopyIntoSpareString(small.data(), small.size());
    EXPECT_EQ(copy, small);
    EXPECT_LT(copy.capacity(), size);
    const std::string quarter(size / 4, 'e');
    copy = CopyIntoSpareString(quarter.data(), quarter.size());
    EXPECT_EQ(copy, quarter);
    EXPECT_GE(copy.capacity(), size);
    size_t left = 0;
    while (!TakeSpareString(0, SIZE_MAX).empty()) ++left;
    EXPECT_EQ(left, kMaxSpareBytes / size - 2);  // all it kept, but the two handed out
  }).join();
}

// Lines' strings are kept apart, by count: a line copied out of the read buffer takes the
// storage of one a stream wrote, if it fits without waste.
TEST(SpareStringsTest, LinesReuseTheStorageOfWrittenLines) {
  std::thread([] {
    std::string written(40, 'a');
    const char* storage = written.data();
    KeepSmallSpareString(std::move(written));
    const std::string line(30, 'b');
    std::string copy = CopyIntoSpareString(line.data(), line.size());
    EXPECT_EQ(copy, line);
    EXPECT_EQ(copy.data(), storage);  // the kept block: no allocation
    // Not kept: a string held inline, and one too large for a line.
    KeepSmallSpareString(std::string(3, 'c'));
    std::string large(100, 'd');
    large.reserve(kMaxSmallSpareCapacity + 1);
    KeepSmallSpareString(std::move(large));
    std::string another = CopyIntoSpareString(line.data(), line.size());
    EXPECT_EQ(another, line);
    EXPECT_LE(another.capacity(), 64u);  // a new block, not the large one
    // A short line does not take a block more than four times its size (past 64 bytes).
    std::string long_line(512, 'e');
    const char* long_storage = long_line.data();
    KeepSmallSpareString(std::move(long_line));
    const std::string short_copy = CopyIntoSpareString(line.data(), 20);
    EXPECT_NE(short_copy.data(), long_storage);
  }).join();
  std::thread([] {
    std::vector<const char*> kept;
    for (size_t i = 0; i < kMaxSmallSpares + 8; ++i) {
      std::string written(40, 'f');
      kept.push_back(written.data());
      KeepSmallSpareString(std::move(written));
    }
    std::vector<std::string> copies;
    size_t reused = 0;
    for (size_t i = 0; i < kMaxSmallSpares + 8; ++i) {
      const std::string line(32, 'g');
      copies.push_back(CopyIntoSpareString(line.data(), line.size()));
      if (std::find(kept.begin(), kept.end(), copies.back().data()) != kept.end()) ++reused;
    }
    EXPECT_EQ(reused, kMaxSmallSpares);  // all it kept, and no more
  }).join();
}

// The queue keeps order through any mix of pushes and pops (its array is rearranged and grown
// under it), holds storage only while it holds items (up to what the pool keeps), and destroys
// each item exactly once.
TEST(FifoTest, KeepsOrderAndHoldsStorageOnlyWhileNotEmpty) {
  std::mt19937 random(7);
  Fifo<std::string> fifo;
  std::vector<std::string> model;  // model[popped..] is what the queue holds
  size_t popped = 0;
  int released = 0;  // times it emptied and gave its storage back
  for (int step = 0; step < 20000; ++step) {
    if (random() % 2 == 0 || popped == model.size()) {
      // Longer than std::string holds inline: ASan sees a string freed twice or never.
      model.push_back(std::string(20 + step % 7, 'a' + step % 26));
      fifo.emplace_back(model.back());
    } else {
      ASSERT_EQ(fifo.front(), model[popped]);
      fifo.pop_front();
      ++popped;
    }
    ASSERT_EQ(fifo.size(), model.size() - popped);
    if (fifo.empty()) {
      if (fifo.capacity_bytes() == 0) ++released;
      // Storage the pool keeps goes back to it; a burst's larger storage stays.
      EXPECT_TRUE(fifo.capacity_bytes() == 0 || fifo.capacity_bytes() > kPooledBlockLimit)
          << fifo.capacity_bytes();
    } else {
      ASSERT_EQ(fifo.back(), model.back());
    }
    if (step % 1000 == 0) {
      const std::vector<std::string> held(fifo.begin(), fifo.end());
      ASSERT_EQ(held, std::vector<std::string>(model.begin() + popped, model.end()));
    }
  }
  EXPECT_GT(released, 10);
  // A burst grows the storage past what the pool keeps: it stays once the queue drains.
  for (int i = 0; i < 1000; ++i) fifo.emplace_back(std::string(30, 'x'));
  while (!fifo.empty()) fifo.pop_front();
  EXPECT_GT(fifo.capacity_bytes(), kPooledBlockLimit);
  fifo.clear();
  EXPECT_EQ(fifo.capacity_bytes(), 0u);
}

}  // namespace
}  // namespace internal
}  // namespace gust
