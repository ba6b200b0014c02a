// Tornado's TestReadWriteMixin behaviors (B003-B060 of ../shared/spec/tornado-behaviors.md),
// over every stream kind (TCP over IPv4 and IPv6, a Unix socket, a pipe), on every backend.
// Each test names the B-numbers it checks.

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "conformance/stream_fixture.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/task.h"

namespace gust {
namespace {

using ::gust::testing::AllStreamKinds;
using ::gust::testing::StreamKindName;
using ::gust::testing::StreamPair;
using ::gust::testing::StreamTest;

class ReadWriteTest : public StreamTest {};

// B003
TEST_P(ReadWriteTest, B003_ReadBytesPartial) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadBytes(50, /*partial=*/true);
  s.writer->Write("hello");
  absl::StatusOr<std::string> data = Await(read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "hello");

  read = s.reader->ReadBytes(3, /*partial=*/true);
  s.writer->Write("world");
  data = Await(read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "wor");

  data = Await(s.reader->ReadBytes(0, /*partial=*/true));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "");
  data = Await(s.reader->ReadBytes(2));
  EXPECT_EQ(*data, "ld");
}

// B001 (zero-byte reads leave the position unchanged), B009 (reads the buffer satisfies are
// done when the call returns).
TEST_P(ReadWriteTest, B001_B009_ZeroByteAndBufferedReadsFinishInline) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("HTTP/1.1 200")).ok());
  ASSERT_EQ(*Await(s.reader->ReadBytes(9)), "HTTP/1.1 ");
  Future<std::string> zero = s.reader->ReadBytes(0);
  ASSERT_TRUE(zero.done());
  EXPECT_EQ(*zero.result(), "");
  Future<std::string> three = s.reader->ReadBytes(3);
  EXPECT_TRUE(three.done());  // the first ReadBytes read all 12 bytes into the buffer
  EXPECT_EQ(*three.result(), "200");
}

// B004
TEST_P(ReadWriteTest, B004_ReadInto) {
  StreamPair s = MakePair();
  std::string buffer(10, '\0');
  Future<size_t> read = s.reader->ReadInto(absl::MakeSpan(buffer));
  ASSERT_TRUE(Await(s.writer->Write("hello")).ok());
  RunFor(absl::Milliseconds(20));
  EXPECT_FALSE(read.done());
  EXPECT_TRUE(s.reader->reading());
  s.writer->Write("world!!");
  absl::StatusOr<size_t> n = Await(read);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(buffer, "helloworld");
  EXPECT_FALSE(s.reader->reading());

  // The two surplus bytes go first into the next buffer.
  read = s.reader->ReadInto(absl::MakeSpan(buffer));
  s.writer->Write("1234567890");
  n = Await(read);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(buffer, "!!12345678");

  // Enough buffered already: resolves at once; the rest stays for ReadBytes.
  s.writer->Write("abcdefghijk");
  ASSERT_EQ(*Await(s.reader->ReadBytes(2)), "90");
  RunFor(absl::Milliseconds(20));
  std::string small(4, '\0');
  Future<size_t> inline_read = s.reader->ReadInto(absl::MakeSpan(small));
  ASSERT_TRUE(Await(inline_read).ok());
  EXPECT_EQ(small, "abcd");
  EXPECT_EQ(*Await(s.reader->ReadBytes(7)), "efghijk");
}

// B005
TEST_P(ReadWriteTest, B005_ReadIntoPartial) {
  StreamPair s = MakePair();
  std::string buffer(10, '\0');
  s.writer->Write("hello");
  absl::StatusOr<size_t> n = Await(s.reader->ReadInto(absl::MakeSpan(buffer), true));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(buffer, std::string("hello\0\0\0\0\0", 10));
  EXPECT_FALSE(s.reader->reading());

  s.writer->Write("0123456789abcdef");
  RunFor(absl::Milliseconds(20));
  n = Await(s.reader->ReadInto(absl::MakeSpan(buffer), true));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(buffer, "0123456789");
  n = Await(s.reader->ReadInto(absl::MakeSpan(buffer), true));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ(buffer, "abcdef6789");
}

// B006
TEST_P(ReadWriteTest, B006_ReadIntoZeroBytesIsDoneAtOnce) {
  StreamPair s = MakePair();
  Future<size_t> read = s.reader->ReadInto(absl::Span<char>());
  ASSERT_TRUE(read.done());
  EXPECT_EQ(*read.result(), 0u);
}

// B007: 1 000 000 random bytes in random-sized writes, consumed by a random mix of ReadBytes and
// ReadInto; every byte arrives once, in order.
TEST_P(ReadWriteTest, B007_ManyMixedReads) {
  StreamPair s = MakePair();
  std::mt19937 random(1234);
  std::string sent(1000000, '\0');
  for (char& c : sent) c = static_cast<char>(random());

  auto produce = [&]() -> Task<void> {
    std::mt19937 sizes(99);
    size_t at = 0;
    while (at < sent.size()) {
      const size_t n = std::min<size_t>(1 + sizes() % 1000, sent.size() - at);
      absl::Status status = co_await s.writer->Write(absl::string_view(sent).substr(at, n));
      if (!status.ok()) co_return status;
      at += n;
    }
    co_return absl::OkStatus();
  };
  auto consume = [&]() -> Task<std::string> {
    std::mt19937 choices(7);
    std::string received;
    while (received.size() < sent.size()) {
      const size_t n = std::min<size_t>(1 + choices() % 1000, sent.size() - received.size());
      if (choices() % 2 == 0) {
        absl::StatusOr<std::string> data = co_await s.reader->ReadBytes(n);
        if (!data.ok()) co_return data.status();
        received += *data;
      } else {
        std::string buffer(n, '\0');
        absl::StatusOr<size_t> got = co_await s.reader->ReadInto(absl::MakeSpan(buffer));
        if (!got.ok()) co_return got.status();
        if (*got != n) co_return absl::InternalError("short non-partial ReadInto");
        received += buffer;
      }
    }
    co_return received;
  };
  Task<void> producer = produce();
  absl::StatusOr<std::string> received = Await(consume().future());
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_TRUE(*received == sent) << "data lost, duplicated or reordered";
  ASSERT_TRUE(Await(producer.future()).ok());
}

// B008
TEST_P(ReadWriteTest, B008_OneReadAtATime) {
  StreamPair s = MakePair();
  Future<std::string> first = s.reader->ReadBytes(1);
  Future<std::string> second = s.reader->ReadUntil("x");
  ASSERT_TRUE(second.done());
  EXPECT_EQ(second.result().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(second.result().status().message()).find("Already reading"),
            std::string::npos);
  s.writer->Write("a");
  EXPECT_EQ(*Await(first), "a");
  // Once closed, a second read reports the close rather than "Already reading".
  Future<std::string> pending = s.reader->ReadBytes(1);
  s.reader->Close();
  Future<std::string> after = s.reader->ReadBytes(1);
  ASSERT_TRUE(after.done());
  EXPECT_TRUE(IsStreamClosedError(after.result().status()));
  EXPECT_TRUE(IsStreamClosedError(Await(pending).status()));
}

// B010
TEST_P(ReadWriteTest, B010_ReadIntoFailsWhenTheStreamClosesFirst) {
  StreamPair s = MakePair();
  std::string buffer(10, '\0');
  Future<size_t> read = s.reader->ReadInto(absl::MakeSpan(buffer));
  ASSERT_TRUE(Await(s.writer->Write("abc")).ok());
  RunFor(absl::Milliseconds(20));
  s.writer->Close();
  absl::StatusOr<size_t> n = Await(read);
  EXPECT_TRUE(IsStreamClosedError(n.status())) << n.status();
}

// B013
TEST_P(ReadWriteTest, B013_ReadUntilCloseAfterClose) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("1234")).ok());
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "1");
  s.writer->Close();
  absl::StatusOr<std::string> rest = Await(s.reader->ReadUntilClose());
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, "234");
}

// B014, B015: after ReadUntilClose the stream is closed; another ReadUntilClose resolves with
// what remains (nothing), and any other read fails at once.
TEST_P(ReadWriteTest, B014_B015_ReadsAfterReadUntilClose) {
  StreamPair s = MakePair();
  s.writer->Write("body");
  s.writer->Close();
  { auto r = Await(s.reader->ReadUntilClose()); ASSERT_TRUE(r.ok()) << r.status(); EXPECT_EQ(*r, "body"); }
  EXPECT_TRUE(s.reader->closed());
  Future<std::string> again = s.reader->ReadUntilClose();
  ASSERT_TRUE(again.done());
  EXPECT_EQ(*again.result(), "");
  Future<std::string> one = s.reader->ReadBytes(1);
  ASSERT_TRUE(one.done());
  EXPECT_TRUE(IsStreamClosedError(one.result().status()));
}

// B018
TEST_P(ReadWriteTest, B018_LargeReadUntil) {
  StreamPair s = MakePair();
  const std::string kilobyte(1024, 'A');
  for (int i = 0; i < 4096; ++i) s.writer->Write(kilobyte);
  s.writer->Write("\r\n");
  absl::StatusOr<std::string> data = Await(s.reader->ReadUntil("\r\n"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 4096u * 1024 + 2);
}

// B019
TEST_P(ReadWriteTest, B019_ReadUntilWithCloseAfterSecondPacket) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadUntil("done");
  ASSERT_TRUE(Await(s.writer->Write(std::string(2048, 'x'))).ok());
  s.writer->Write("done");
  s.writer->Close();
  absl::StatusOr<std::string> data = Await(read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 2052u);
}

// B020
TEST_P(ReadWriteTest, B020_ReadUntilUnsatisfiedAfterCloseIsStreamClosed) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadUntil("done");
  ASSERT_TRUE(Await(s.writer->Write(std::string(2048, 'x'))).ok());
  s.writer->Write("foo");
  s.writer->Close();
  absl::StatusOr<std::string> data = Await(read);
  EXPECT_TRUE(IsStreamClosedError(data.status())) << data.status();
  EXPECT_FALSE(IsUnsatisfiableReadError(RealError(data.status())));
}

// B021: delimiters split across writes are found; the earliest wins; the rest stays buffered.
TEST_P(ReadWriteTest, B021_DelimiterSemantics) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadUntil("\r\n");
  ASSERT_TRUE(Await(s.writer->Write("line one\r")).ok());
  RunFor(absl::Milliseconds(10));
  EXPECT_FALSE(read.done());
  s.writer->Write("\nline two\r\nline three\r\n");
  EXPECT_EQ(*Await(read), "line one\r\n");
  EXPECT_EQ(*Await(s.reader->ReadUntil("\r\n")), "line two\r\n");
  EXPECT_EQ(*Await(s.reader->ReadUntil("three")), "line three");
  EXPECT_EQ(*Await(s.reader->ReadBytes(2)), "\r\n");
}

// B021: the delimiter is found past its first byte's false starts, whether the search runs as
// the bytes arrive or over bytes buffered already (pipelined lines, searched inline).
TEST_P(ReadWriteTest, B021_DelimiterFoundPastFalseStarts) {
  StreamPair s = MakePair();
  const std::string data = "a\rb\r\r\nabcabd;dodone;\r\r";
  ASSERT_TRUE(Await(s.writer->Write(data)).ok());
  EXPECT_EQ(*Await(s.reader->ReadUntil("\r\n")), "a\rb\r\r\n");
  EXPECT_EQ(*Await(s.reader->ReadUntil("abd")), "abcabd");
  EXPECT_EQ(*Await(s.reader->ReadUntil("done")), ";dodone");
  Future<std::string> last = s.reader->ReadUntil("\r\n");
  RunFor(absl::Milliseconds(10));
  EXPECT_FALSE(last.done());  // ";\r\r": first bytes only
  s.writer->Write("\n");
  EXPECT_EQ(*Await(last), ";\r\r\n");
}

// B022: regex search anywhere in the buffer; the result ends at the end of the first match.
TEST_P(ReadWriteTest, B022_ReadUntilRegexSemantics) {
  StreamPair s = MakePair();
  s.writer->Write("GET / HTTP/1.0\nHost: x\n\nbody");
  absl::StatusOr<std::string> head = Await(s.reader->ReadUntilRegex("\r?\n\r?\n"));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, "GET / HTTP/1.0\nHost: x\n\n");
  EXPECT_EQ(*Await(s.reader->ReadBytes(4)), "body");
  // Bytes that are not UTF-8 match as bytes.
  s.writer->Write(std::string("\xff\xfe\x00" "end", 6));
  absl::StatusOr<std::string> binary = Await(s.reader->ReadUntilRegex("e.d"));
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_EQ(*binary, std::string("\xff\xfe\x00" "end", 6));
}

// Usage errors are statuses, not crashes, and leave the stream usable.
TEST_P(ReadWriteTest, UsageErrorsAreInvalidArgument) {
  StreamPair s = MakePair();
  EXPECT_EQ(Await(s.reader->ReadUntil("")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Await(s.reader->ReadUntil("abc", 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status bad_regex = Await(s.reader->ReadUntilRegex("(unclosed")).status();
  EXPECT_EQ(bad_regex.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad_regex.message()).find("unclosed"), std::string::npos) << bad_regex;
  EXPECT_EQ(Await(s.reader->ReadUntilRegex(std::shared_ptr<const re2::RE2>())).status().code(),
            absl::StatusCode::kInvalidArgument);
  s.writer->Write("ok");
  EXPECT_EQ(*Await(s.reader->ReadBytes(2)), "ok");
}

// B023, B026 (the limit is inclusive) and B029 (exactly max_bytes without a delimiter waits).
TEST_P(ReadWriteTest, B023_B026_B029_MaxBytesLimitIsInclusive) {
  for (bool regex : {false, true}) {
    SCOPED_TRACE(regex ? "ReadUntilRegex" : "ReadUntil");
    StreamPair s = MakePair();
    auto read = [&](size_t max_bytes) {
      return regex ? s.reader->ReadUntilRegex("def", max_bytes)
                   : s.reader->ReadUntil("def", max_bytes);
    };
    s.writer->Write("abcdef");
    EXPECT_EQ(*Await(read(50)), "abcdef");
    s.writer->Write("abcdef");
    EXPECT_EQ(*Await(read(6)), "abcdef");
    // Five bytes without the delimiter, with max_bytes 5: still waiting.
    Future<std::string> waiting = read(5);
    ASSERT_TRUE(Await(s.writer->Write("12345")).ok());
    RunFor(absl::Milliseconds(20));
    EXPECT_FALSE(waiting.done());
    EXPECT_FALSE(s.reader->closed());
    s.writer->Write("d");  // now more than 5 bytes without a match
    absl::StatusOr<std::string> failed = Await(waiting);
    EXPECT_TRUE(IsStreamClosedError(failed.status())) << failed.status();
  }
}

// B023/B026 failure, B024/B027 (detected inline: still delivered through the future), B025/B028
// (a delimiter past the limit does not count), B030 (error(), real error, later writes, and the
// buffered bytes stay readable).
TEST_P(ReadWriteTest, B023_To_B028_B030_UnsatisfiableReadClosesTheStream) {
  for (bool regex : {false, true}) {
    for (bool data_first : {false, true}) {
      for (const char* sent : {"123456", "abcdef"}) {
        SCOPED_TRACE(absl::StrCat(regex ? "regex" : "delimiter",
                                  data_first ? ", data first" : ", read first", ", ", sent));
        StreamPair s = MakePair();
        bool close_callback_ran = false;
        s.reader->SetCloseCallback([&] { close_callback_ran = true; });
        if (data_first) {
          ASSERT_TRUE(Await(s.writer->Write(sent)).ok());
          RunFor(absl::Milliseconds(10));
        }
        ::testing::internal::CaptureStderr();
        Future<std::string> read = regex ? s.reader->ReadUntilRegex("def", 5)
                                         : s.reader->ReadUntil("def", 5);
        if (!data_first) s.writer->Write(sent);
        absl::StatusOr<std::string> result = Await(read);
        RunFor(absl::Milliseconds(5));
        const std::string logged = ::testing::internal::GetCapturedStderr();
        EXPECT_TRUE(IsStreamClosedError(result.status())) << result.status();
        EXPECT_TRUE(IsUnsatisfiableReadError(RealError(result.status()))) << result.status();
        EXPECT_TRUE(IsUnsatisfiableReadError(s.reader->error())) << s.reader->error();
        EXPECT_NE(logged.find("Unsatisfiable read"), std::string::npos) << logged;
        EXPECT_TRUE(s.reader->closed());
        EXPECT_TRUE(close_callback_ran);
        Future<void> write = s.reader->Write("x");
        ASSERT_TRUE(write.done());
        EXPECT_TRUE(IsStreamClosedError(write.result()));
        // The bytes that were buffered are still readable after the close.
        absl::StatusOr<std::string> left = Await(s.reader->ReadBytes(6));
        ASSERT_TRUE(left.ok()) << left.status();
        EXPECT_EQ(*left, sent);
      }
    }
  }
}

// An unsatisfiable read on a stream that is closed already fails at once (it must not wait for
// a close that has happened).
TEST_P(ReadWriteTest, UnsatisfiableReadOnAClosedStreamFails) {
  StreamPair s = MakePair();
  s.writer->Write("123456");
  s.writer->Close();
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "1");  // buffers the rest
  s.reader->Close();
  ::testing::internal::CaptureStderr();
  Future<std::string> read = s.reader->ReadUntil("def", 3);
  ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(read.done());
  EXPECT_TRUE(IsStreamClosedError(read.result().status())) << read.result().status();
  EXPECT_TRUE(IsUnsatisfiableReadError(RealError(read.result().status())));
  EXPECT_EQ(*Await(s.reader->ReadBytes(5)), "23456");
}

// B031
TEST_P(ReadWriteTest, B031_WriteZeroBytes) {
  StreamPair s = MakePair();
  EXPECT_TRUE(Await(s.writer->Write("")).ok());
  s.writer->Write("x");
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "x");
}

// An empty write waits for what was written before it (Tornado: write(b"") resolves once the
// buffer is flushed). Closed right after, with all of that sent, it succeeds, as in Tornado,
// where it resolved inside write() already: with nothing queued, it failed with the close, as it
// waited for a flush at the end of the iteration.
TEST_P(ReadWriteTest, AnEmptyWriteBeforeCloseSucceedsOnceAllBeforeItIsSent) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("abc")).ok());
  Future<void> empty = s.writer->Write("");
  s.writer->Close();
  EXPECT_TRUE(Await(empty).ok()) << Await(empty);
  // Queued bytes: the close's last send resolves both.
  StreamPair t = MakePair();
  Future<void> queued = t.writer->Write("def");
  Future<void> empty_after_queued = t.writer->Write("");
  t.writer->Close();  // sends what the fd takes: all of it
  EXPECT_TRUE(Await(queued).ok());
  EXPECT_TRUE(Await(empty_after_queued).ok()) << Await(empty_after_queued);
  EXPECT_EQ(*Await(s.reader->ReadUntilClose()), "abc");
  EXPECT_EQ(*Await(t.reader->ReadUntilClose()), "def");
}

// B032 (a view into a larger buffer writes only its bytes) and the rvalue form that adopts
// large strings.
TEST_P(ReadWriteTest, B032_WriteViewsAndMovedStrings) {
  StreamPair s = MakePair();
  const std::string backing = "xxhelloxx";
  Future<std::string> read = s.reader->ReadBytes(4);
  s.writer->Write(absl::string_view(backing).substr(2, 5));
  EXPECT_EQ(*Await(read), "hell");
  std::string large(100000, 'L');
  s.writer->Write(std::move(large));
  absl::StatusOr<std::string> rest = Await(s.reader->ReadBytes(100001));
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, "o" + std::string(100000, 'L'));
}

// B035 (no write future is orphaned) and B036 (they resolve in order): 10 producers, 1000
// writes of 5000 bytes each, interleaved on one stream.
TEST_P(ReadWriteTest, B035_B036_EveryWriteFutureResolvesInOrder) {
  BaseIOStream::Options options;
  options.max_buffer_size = 50 * 1000 * 1000;
  StreamPair s = MakePair(options);
  constexpr int kProducers = 10;
  constexpr int kWrites = 1000;
  constexpr size_t kSize = 5000;
  std::vector<int> completion_order;
  int last_index = -1;
  bool in_order = true;
  int index = 0;
  auto producer = [&](int id) -> Task<void> {
    const std::string chunk(kSize, static_cast<char>('a' + id));
    for (int i = 0; i < kWrites; ++i) {
      const int my_index = index++;
      absl::Status status = co_await s.writer->Write(chunk);
      if (!status.ok()) co_return status;
      // Futures resolve FIFO, but a coroutine resumes in callback order, which is the same.
      if (my_index < last_index) in_order = false;
      last_index = my_index;
    }
    co_return absl::OkStatus();
  };
  std::vector<Task<void>> producers;
  for (int id = 0; id < kProducers; ++id) producers.push_back(producer(id));
  auto consumer = [&]() -> Task<size_t> {
    size_t total = 0;
    while (total < kProducers * kWrites * kSize) {
      absl::StatusOr<std::string> data = co_await s.reader->ReadBytes(kSize);
      if (!data.ok()) co_return data.status();
      total += data->size();
    }
    co_return total;
  };
  absl::StatusOr<size_t> total = Await(consumer().future(), absl::Seconds(120));
  ASSERT_TRUE(total.ok()) << total.status();
  for (Task<void>& task : producers) EXPECT_TRUE(Await(task.future()).ok());
  EXPECT_TRUE(in_order);
}

// B037 (write on a closed stream), B040 (close fails pending writes; writing() while unsent).
TEST_P(ReadWriteTest, B037_B040_WritesAndClose) {
  StreamPair s = MakePair();
  // Fill the kernel buffer so that writes stay queued.
  std::vector<Future<void>> writes;
  for (int i = 0; i < 64; ++i) writes.push_back(s.writer->Write(std::string(1 << 20, 'w')));
  RunFor(absl::Milliseconds(20));
  EXPECT_TRUE(s.writer->writing());
  s.writer->Close(absl::CancelledError("shutting down"));
  EXPECT_FALSE(s.writer->writing());
  size_t failed = 0;
  for (Future<void>& write : writes) {
    absl::Status status = Await(write);
    if (!status.ok()) {
      ++failed;
      EXPECT_TRUE(IsStreamClosedError(status));
      EXPECT_EQ(RealError(status).code(), absl::StatusCode::kCancelled);
    }
  }
  EXPECT_GT(failed, 0u);
  Future<void> late = s.writer->Write("late");
  ASSERT_TRUE(late.done());
  EXPECT_TRUE(IsStreamClosedError(late.result()));
  EXPECT_EQ(RealError(late.result()).code(), absl::StatusCode::kCancelled);
}

// B038
TEST_P(ReadWriteTest, B038_MaxWriteBufferSize) {
  BaseIOStream::Options options;
  options.max_write_buffer_size = 1000;
  StreamPair s = MakePair(options);
  Future<void> too_big = s.writer->Write(std::string(1001, 'x'));
  ASSERT_TRUE(too_big.done());
  EXPECT_TRUE(IsStreamBufferFullError(too_big.result())) << too_big.result();
  EXPECT_FALSE(s.writer->closed());
  EXPECT_TRUE(Await(s.writer->Write(std::string(1000, 'y'))).ok());
  // Bytes accepted by the kernel no longer count.
  EXPECT_TRUE(Await(s.writer->Write(std::string(1000, 'z'))).ok());
  EXPECT_EQ(*Await(s.reader->ReadBytes(2000)), std::string(1000, 'y') + std::string(1000, 'z'));
}

// B042: a non-partial read never resolves short.
TEST_P(ReadWriteTest, B042_CloseWhileReadingFailsTheRead) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadBytes(1 << 20);
  s.writer->Write("short");
  s.writer->Close();
  EXPECT_TRUE(IsStreamClosedError(Await(read).status()));
}

// B042: the error a clean close gives is a bare StreamClosedError (no real error, no errno), the
// same every time: a caller that alters its copy does not alter the next stream's.
TEST_P(ReadWriteTest, B042_ACleanCloseFailsReadsWithABareStreamClosedError) {
  absl::Status first;
  for (int i = 0; i < 2; ++i) {
    StreamPair s = MakePair();
    Future<std::string> read = s.reader->ReadUntil("\n");
    s.writer->Close();
    absl::Status closed = Await(read).status();
    EXPECT_TRUE(IsStreamClosedError(closed)) << closed;
    EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(closed.message(), "Stream is closed");
    EXPECT_TRUE(RealError(closed).ok()) << RealError(closed);
    EXPECT_EQ(ErrnoOf(closed), 0);
    EXPECT_FALSE(closed.GetPayload("test.gust/mark").has_value());
    if (i == 0) {
      first = closed;
      closed.SetPayload("test.gust/mark", absl::Cord("altered"));
      EXPECT_TRUE(closed.GetPayload("test.gust/mark").has_value());
    } else {
      EXPECT_EQ(closed, first);
    }
  }
}

// B043
TEST_P(ReadWriteTest, B043_DataBufferedBeforeThePeerClosedIsReadable) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("12")).ok());
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "1");
  s.writer->Close();
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "2");
}

// B044: noticing the end of the stream does not lose data still in the kernel.
TEST_P(ReadWriteTest, B044_CloseBufferedData) {
  BaseIOStream::Options options;
  options.read_chunk_size = 256;
  StreamPair s = MakePair(options);
  ASSERT_TRUE(Await(s.writer->Write(std::string(512, 'b'))).ok());
  EXPECT_EQ(Await(s.reader->ReadBytes(256))->size(), 256u);
  s.writer->Close();
  RunFor(absl::Milliseconds(10));
  absl::StatusOr<std::string> second = Await(s.reader->ReadBytes(256));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, std::string(256, 'b'));
}

// B045, B046: Close() is synchronous and idempotent; a pending read the buffer satisfies
// resolves; reads after the close are served from the buffer.
TEST_P(ReadWriteTest, B045_B046_LocalCloseKeepsBufferedData) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("abcdef")).ok());
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "a");  // reads everything sent into the buffer
  s.reader->Close();
  EXPECT_TRUE(s.reader->closed());
  s.reader->Close();
  EXPECT_TRUE(s.reader->error().ok());
  EXPECT_EQ(*Await(s.reader->ReadBytes(2)), "bc");
  Future<std::string> too_much = s.reader->ReadBytes(10);
  ASSERT_TRUE(too_much.done());
  EXPECT_TRUE(IsStreamClosedError(too_much.result().status()));
  EXPECT_EQ(*Await(s.reader->ReadUntilClose()), "def");
}

// B047: error() after Close(error) and after a clean end of stream.
TEST_P(ReadWriteTest, B047_ErrorAfterClose) {
  StreamPair s = MakePair();
  s.writer->Close(absl::AbortedError("why"));
  EXPECT_EQ(s.writer->error().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(IsStreamClosedError(Await(s.reader->ReadBytes(1)).status()));
  EXPECT_TRUE(s.reader->error().ok()) << s.reader->error();
}

// B048: without a close callback or a read, a peer's close goes unnoticed.
TEST_P(ReadWriteTest, B048_IdlePeerCloseIsUnnoticedWithoutACloseCallback) {
  StreamPair s = MakePair();
  s.writer->Close();
  RunFor(absl::Milliseconds(20));
  EXPECT_FALSE(s.reader->closed());
  EXPECT_TRUE(IsStreamClosedError(Await(s.reader->ReadBytes(1)).status()));
  EXPECT_TRUE(s.reader->closed());
}

// B049
TEST_P(ReadWriteTest, B049_CloseCallbackWithPendingRead) {
  StreamPair s = MakePair();
  bool closed = false;
  s.reader->SetCloseCallback([&] { closed = true; });
  s.writer->Write("line\r\n");
  EXPECT_EQ(*Await(s.reader->ReadUntil("\r\n")), "line\r\n");
  s.writer->Close();
  EXPECT_TRUE(IsStreamClosedError(Await(s.reader->ReadUntil("\r\n")).status()));
  RunUntil([&] { return closed; });
}

// B050 (idle close detection with a close callback), B051 (the callback runs after the
// futures, from the loop, once).
TEST_P(ReadWriteTest, B050_B051_CloseCallbackTiming) {
  StreamPair s = MakePair();
  std::vector<std::string> log;
  s.reader->SetCloseCallback([&] { log.push_back("close callback"); });
  s.writer->Write("x");
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "x");
  EXPECT_TRUE(log.empty());
  s.writer->Close();
  RunUntil([&] { return !log.empty(); });
  EXPECT_TRUE(s.reader->closed());

  StreamPair t = MakePair();
  t.reader->SetCloseCallback([&] { log.push_back("second close callback"); });
  Future<std::string> read = t.reader->ReadBytes(10);
  read.AddDoneCallback([&](const absl::StatusOr<std::string>&) { log.push_back("read failed"); });
  t.reader->Close();
  EXPECT_EQ(log.size(), 1u);  // nothing ran inside Close()
  RunFor(absl::Milliseconds(10));
  EXPECT_EQ(log, (std::vector<std::string>{"close callback", "read failed",
                                           "second close callback"}));
}

// B052: deliberate difference: on a stream that is already closed the callback is scheduled
// once (Tornado never calls it).
TEST_P(ReadWriteTest, B052_CloseCallbackOnAClosedStreamRunsOnce) {
  StreamPair s = MakePair();
  s.reader->Close();
  int calls = 0;
  s.reader->SetCloseCallback([&] { ++calls; });
  EXPECT_EQ(calls, 0);
  RunFor(absl::Milliseconds(10));
  EXPECT_EQ(calls, 1);
  s.writer->SetCloseCallback([&] { ++calls; });
  s.writer->SetCloseCallback(nullptr);
  s.writer->Close();
  RunFor(absl::Milliseconds(10));
  EXPECT_EQ(calls, 1);
}

// B053: the close callback may fire with data still buffered; the data stays readable.
TEST_P(ReadWriteTest, B053_DataStaysReadableAfterTheCloseCallback) {
  StreamPair s = MakePair();
  bool closed = false;
  s.reader->SetCloseCallback([&] { closed = true; });
  s.writer->Write("z");
  s.writer->Close();
  RunUntil([&] { return closed; });
  EXPECT_EQ(*Await(s.reader->ReadBytes(1)), "z");
}

// B055: the stream reads only what the pending read needs.
TEST_P(ReadWriteTest, B055_SmallReadsFromALargeBuffer) {
  BaseIOStream::Options options;
  options.max_buffer_size = 10 * 1024;
  StreamPair s = MakePair(options);
  s.writer->Write(std::string(100 * 1024, 'r'));
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> data = Await(s.reader->ReadBytes(1024));
    ASSERT_TRUE(data.ok()) << i << ": " << data.status();
  }
}

// B056
TEST_P(ReadWriteTest, B056_SmallReadUntilsFromALargeBuffer) {
  BaseIOStream::Options options;
  options.max_buffer_size = 10 * 1024;
  StreamPair s = MakePair(options);
  const std::string line = std::string(1023, 'l') + "\n";
  for (int i = 0; i < 100; ++i) s.writer->Write(line);
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> data = Await(s.reader->ReadUntil("\n", 4096));
    ASSERT_TRUE(data.ok()) << i << ": " << data.status();
    EXPECT_EQ(*data, line);
  }
}

// B057: a reader that pauses pushes back on the writer instead of overflowing.
TEST_P(ReadWriteTest, B057_FlowControl) {
  BaseIOStream::Options options;
  options.max_buffer_size = 5 * 1024 * 1024;
  StreamPair s = MakePair(options);
  Future<void> write = s.writer->Write(std::string(10 * 1024 * 1024, 'f'));
  ASSERT_TRUE(Await(s.reader->ReadBytes(1024 * 1024)).ok());
  RunFor(absl::Milliseconds(100));
  for (int i = 0; i < 9; ++i) {
    absl::StatusOr<std::string> data = Await(s.reader->ReadBytes(1024 * 1024));
    ASSERT_TRUE(data.ok()) << i << ": " << data.status();
  }
  EXPECT_TRUE(Await(write).ok());
}

// B058
TEST_P(ReadWriteTest, B058_ChunkSizeIsClampedToHalfTheBufferLimit) {
  BaseIOStream::Options options;
  options.max_buffer_size = 10 * 1024;
  StreamPair s = MakePair(options);
  ASSERT_TRUE(Await(s.writer->Write(std::string(8000, 'c'))).ok());
  RunFor(absl::Milliseconds(10));
  absl::StatusOr<std::string> data = Await(s.reader->ReadBytes(1, /*partial=*/true));
  ASSERT_TRUE(data.ok());
  // One system call took at most 5120 bytes: 5119 are left in the buffer, the rest in the kernel.
  Future<std::string> buffered = s.reader->ReadBytes(5119);
  EXPECT_TRUE(buffered.done());
  Future<std::string> beyond = s.reader->ReadBytes(2880, /*partial=*/false);
  EXPECT_TRUE(Await(beyond).ok());
}

// A read pass takes at most 16 chunks; what it leaves on the fd is read from the loop, not left
// to the poller, which (edge-triggered epoll) reports an fd again only once more arrives. Here
// nothing more arrives: 48 KiB wait in the kernel (a pipe holds 64 KiB) and a pass takes 16 KiB.
TEST_P(ReadWriteTest, AReadLongerThanOnePassFinishesWithNothingMoreArriving) {
  BaseIOStream::Options options;
  options.read_chunk_size = 1024;
  const std::string data = std::string(48 * 1024 - 2, 'p') + "\r\n";
  for (bool read_first : {true, false}) {
    for (bool until : {false, true}) {
      SCOPED_TRACE(absl::StrCat(read_first ? "read pending before the data" : "data first",
                                until ? ", ReadUntil" : ", ReadBytes"));
      StreamPair s = MakePair(options);
      Future<std::string> read;
      if (read_first) read = until ? s.reader->ReadUntil("\r\n") : s.reader->ReadBytes(data.size());
      ASSERT_TRUE(Await(s.writer->Write(data)).ok());
      if (!read_first) {
        RunFor(absl::Milliseconds(10));  // the data is in the kernel, its event seen
        read = until ? s.reader->ReadUntil("\r\n") : s.reader->ReadBytes(data.size());
      }
      absl::StatusOr<std::string> got = Await(read);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, data);
    }
  }
}

// B060 (deliberate difference: error() is StreamBufferFullError, however the overflow is found).
TEST_P(ReadWriteTest, B060_ReadBufferOverflow) {
  for (bool inline_read : {false, true}) {
    SCOPED_TRACE(inline_read ? "found inside the read call" : "found by the loop");
    BaseIOStream::Options options;
    options.max_buffer_size = 4096;
    StreamPair s = MakePair(options);
    if (inline_read) {
      ASSERT_TRUE(Await(s.writer->Write(std::string(20000, 'o'))).ok());
      RunFor(absl::Milliseconds(10));
    }
    ::testing::internal::CaptureStderr();
    Future<std::string> read = s.reader->ReadUntil("never");
    if (!inline_read) s.writer->Write(std::string(20000, 'o'));
    absl::StatusOr<std::string> result = Await(read);
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(IsStreamClosedError(result.status())) << result.status();
    EXPECT_TRUE(IsStreamBufferFullError(RealError(result.status()))) << result.status();
    EXPECT_TRUE(IsStreamBufferFullError(s.reader->error())) << s.reader->error();
    EXPECT_NE(logged.find("Reached maximum read buffer size"), std::string::npos) << logged;
  }
}

// Fairness: a stream whose reads are all served from its buffer (or from data that is always
// waiting) yields to the loop, so another stream on the same loop is served meanwhile.
TEST_P(ReadWriteTest, BusyStreamDoesNotStarveOthers) {
  StreamPair busy = MakePair();
  StreamPair quiet = MakePair();
  // Both pairs connected (with TLS, handshakes done): what is measured is the loop's turns,
  // not how long a handshake takes (under a sanitizer, long enough for tens of thousands of
  // lines).
  for (StreamPair* pair : {&busy, &quiet}) {
    pair->writer->Write("ready\n");
    absl::StatusOr<std::string> ready = Await(pair->reader->ReadUntil("\n"));
    ASSERT_TRUE(ready.ok()) << ready.status();
  }
  constexpr int kLines = 100000;
  std::string flood;
  for (int i = 0; i < kLines; ++i) flood += "x\n";
  busy.writer->Write(std::move(flood));
  RunFor(absl::Milliseconds(20));  // the flood is waiting in the kernel and the buffer
  int busy_lines = 0;
  auto drain = [&]() -> Task<void> {
    while (busy_lines < kLines) {
      absl::StatusOr<std::string> line = co_await busy.reader->ReadUntil("\n");
      if (!line.ok()) co_return line.status();
      ++busy_lines;
    }
    co_return absl::OkStatus();
  };
  int busy_lines_when_quiet_served = -1;
  quiet.reader->ReadUntil("\n").AddDoneCallback(
      [&](const absl::StatusOr<std::string>&) { busy_lines_when_quiet_served = busy_lines; });
  Task<void> busy_task = drain();
  quiet.writer->Write("z\n");
  ASSERT_TRUE(Await(busy_task.future()).ok());
  EXPECT_GE(busy_lines_when_quiet_served, 0);
  // A few turns of the loop, each at most one fairness budget (64 lines) of the busy stream's.
  EXPECT_LE(busy_lines_when_quiet_served, kLines / 100)
      << "the quiet stream waited for a large part of the busy stream's lines";
}

// B090
TEST_P(ReadWriteTest, B090_StateQueries) {
  StreamPair s = MakePair();
  EXPECT_FALSE(s.reader->reading());
  EXPECT_FALSE(s.writer->writing());
  EXPECT_GE(s.reader->fileno(), 0);
  Future<std::string> read = s.reader->ReadBytes(1);
  EXPECT_TRUE(s.reader->reading());
  s.writer->Write("1");
  ASSERT_TRUE(Await(read).ok());
  EXPECT_FALSE(s.reader->reading());
  s.reader->Close();
  EXPECT_TRUE(s.reader->closed());
  EXPECT_EQ(s.reader->fileno(), -1);
}

// B094, B095: Tornado 4's read_bytes(streaming_callback=...).
TEST_P(ReadWriteTest, B094_B095_ReadBytesStreaming) {
  StreamPair s = MakePair();
  std::vector<std::string> chunks;
  Future<std::string> read =
      s.reader->ReadBytesStreaming(6, [&](std::string chunk) { chunks.push_back(chunk); });
  ASSERT_TRUE(Await(s.writer->Write("1234")).ok());
  RunUntil([&] { return !chunks.empty(); });
  s.writer->Write("5678");
  absl::StatusOr<std::string> final = Await(read);
  ASSERT_TRUE(final.ok()) << final.status();
  EXPECT_EQ(*final, "");
  EXPECT_EQ(chunks, (std::vector<std::string>{"1234", "56"}));
  EXPECT_EQ(*Await(s.reader->ReadBytes(2)), "78");
}

// B096, B097, B098: read_until_close(streaming_callback=...), including data already buffered.
TEST_P(ReadWriteTest, B096_B097_B098_ReadUntilCloseStreaming) {
  StreamPair s = MakePair();
  s.writer->Write("abcd\r\nefgh");
  EXPECT_EQ(*Await(s.reader->ReadUntil("\r\n")), "abcd\r\n");
  std::string streamed;
  Future<std::string> read =
      s.reader->ReadUntilCloseStreaming([&](std::string chunk) { streamed += chunk; });
  RunUntil([&] { return streamed == "efgh"; });
  s.writer->Write("5678");
  RunUntil([&] { return streamed == "efgh5678"; });
  s.writer->Close();
  absl::StatusOr<std::string> final = Await(read);
  ASSERT_TRUE(final.ok()) << final.status();
  EXPECT_EQ(*final, "");
  EXPECT_EQ(streamed, "efgh5678");
}

// Tornado 4's callback forms of the streaming reads: the final callback runs once, with "",
// after the last chunk went to the streaming callback.
TEST_P(ReadWriteTest, StreamingReadsWithAFinalCallback) {
  StreamPair s = MakePair();
  std::string streamed;
  std::vector<std::string> finals;
  s.reader->ReadBytesStreaming(
      4, [&](std::string chunk) { streamed += chunk; },
      [&](absl::StatusOr<std::string> final) {
        finals.push_back(final.ok() ? *final : final.status().ToString());
      });
  s.writer->Write("abcdef");
  RunUntil([&] { return finals.size() == 1; });
  EXPECT_EQ(streamed, "abcd");
  EXPECT_EQ(finals[0], "");
  s.reader->ReadUntilCloseStreaming(
      [&](std::string chunk) { streamed += chunk; },
      [&](absl::StatusOr<std::string> final) {
        EXPECT_EQ(streamed, "abcdefgh");  // every chunk first
        finals.push_back(final.ok() ? *final : final.status().ToString());
      });
  s.writer->Write("gh");
  RunUntil([&] { return streamed == "abcdefgh"; });
  s.writer->Close();
  RunUntil([&] { return finals.size() == 2; });
  EXPECT_EQ(finals[1], "");
}

// Tornado's iostream.Error, the base of the stream errors: IsGustError is true for each kind
// gust reports and for nothing else.
TEST_P(ReadWriteTest, IsGustErrorCoversTheThreeKinds) {
  StreamPair s = MakePair();
  EXPECT_TRUE(IsGustError(StreamClosedError()));
  EXPECT_TRUE(IsGustError(StreamBufferFullError("full")));
  EXPECT_TRUE(IsGustError(UnsatisfiableReadError("too long")));
  EXPECT_FALSE(IsGustError(absl::OkStatus()));
  EXPECT_FALSE(IsGustError(absl::InvalidArgumentError("bad")));
  EXPECT_FALSE(IsGustError(ErrnoError(ECONNRESET, "read")));
  absl::StatusOr<std::string> invalid = Await(s.reader->ReadUntil(""));
  EXPECT_FALSE(IsGustError(invalid.status())) << invalid.status();
  s.writer->Close();
  absl::StatusOr<std::string> closed = Await(s.reader->ReadBytes(1));
  EXPECT_TRUE(IsGustError(closed.status())) << closed.status();
}

// buffer_heap_bytes counts both buffers: nothing before any traffic, the queued write while
// it waits, the read buffer while it holds unread data; once both are empty, the read buffer
// is gone and only the write queues' own small storage stays (kept, so that the next write
// does not allocate it again).
TEST_P(ReadWriteTest, BufferHeapBytesCountsBothBuffers) {
  StreamPair s = MakePair();
  EXPECT_EQ(s.writer->buffer_heap_bytes(), 0u);
  EXPECT_EQ(s.reader->buffer_heap_bytes(), 0u);
  // More than any socket buffer takes: the kernel accepts part of it at once, the rest waits.
  const size_t size = 16 << 20;
  Future<void> written = s.writer->Write(std::string(size, 'x'));
  EXPECT_GT(s.writer->write_buffer_size(), 0u);
  EXPECT_GE(s.writer->buffer_heap_bytes(), s.writer->write_buffer_size());
  ASSERT_TRUE(Await(s.reader->ReadBytes(10)).ok());
  EXPECT_GT(s.reader->buffer_heap_bytes(), 0u);  // the rest of the chunk it read
  ASSERT_TRUE(Await(s.reader->ReadBytes(size - 10)).ok());
  ASSERT_TRUE(Await(written).ok());
  EXPECT_EQ(s.reader->buffer_heap_bytes(), 0u);
  EXPECT_LT(s.writer->buffer_heap_bytes(), 256u);
}

// Not in Tornado: a stream waiting for the rest of a line holds that part of the line, not the
// 64 KiB chunk it was read with; ten thousand connections stopped mid-line then cost kilobytes
// each, not a chunk each.
TEST_P(ReadWriteTest, AStreamWaitingMidLineKeepsTheLineNotTheChunk) {
  StreamPair s = MakePair();
  std::string data;
  for (int i = 0; i < 1000; ++i) data += "line\r\n";
  data += "partial";
  ASSERT_TRUE(Await(s.writer->Write(data)).ok());
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> line = Await(s.reader->ReadUntil("\r\n"));
    ASSERT_TRUE(line.ok()) << line.status();
    ASSERT_EQ(*line, "line\r\n");
  }
  Future<std::string> rest = s.reader->ReadUntil("\r\n");
  EXPECT_FALSE(rest.done());
  EXPECT_LE(s.reader->buffer_heap_bytes(), 4096u);
  ASSERT_TRUE(Await(s.writer->Write("\r\n")).ok());
  absl::StatusOr<std::string> last = Await(rest);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, "partial\r\n");
}

// Not in Tornado: a reader that stops after one line of a batch that arrived together (its
// handler awaits something else) leaves the rest in the 64 KiB chunk it was read with only
// until the end of the loop iteration; the rest is then kept in small storage, and is still
// all there to read.
TEST_P(ReadWriteTest, TheRestOfABatchIsMovedOutOfTheChunkByTheIterationsEnd) {
  StreamPair s = MakePair();
  std::string data;
  for (int i = 0; i < 100; ++i) data += absl::StrCat("line ", i, "\r\n");
  ASSERT_TRUE(Await(s.writer->Write(data)).ok());
  pollfd readable = {s.reader->fileno(), POLLIN, 0};
  ASSERT_EQ(poll(&readable, 1, 5000), 1);
  absl::StatusOr<std::string> first = Await(s.reader->ReadUntil("\r\n"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "line 0\r\n");
  RunFor(absl::Milliseconds(5));
  EXPECT_LE(s.reader->buffer_heap_bytes(), 4096u);
  std::string rest;
  while (rest.size() < data.size() - first->size()) {
    absl::StatusOr<std::string> line = Await(s.reader->ReadUntil("\r\n"));
    ASSERT_TRUE(line.ok()) << line.status();
    rest += *line;
  }
  EXPECT_EQ(*first + rest, data);
}

// B100: Tornado 4 never called the read callback of an unsatisfiable read found inline; gust
// calls it with the failure (every callback hears how its operation ended), before the close
// callback, as for any read pending at a close (B051).
TEST_P(ReadWriteTest, B100_CallbackOfAnInlineUnsatisfiableRead) {
  StreamPair s = MakePair();
  ASSERT_TRUE(Await(s.writer->Write("123456")).ok());
  // Wait until the bytes can be read (over TLS, Nagle and delayed ACKs can hold them ~40 ms).
  pollfd readable = {s.reader->fileno(), POLLIN, 0};
  ASSERT_EQ(poll(&readable, 1, 5000), 1);
  std::vector<std::string> log;
  s.reader->SetCloseCallback([&] { log.push_back("close callback"); });
  ::testing::internal::CaptureStderr();
  s.reader->ReadUntil("def", 5, [&](absl::StatusOr<std::string> result) {
    log.push_back(IsStreamClosedError(result.status()) ? "read failed" : "read succeeded");
  });
  EXPECT_TRUE(log.empty());
  RunUntil([&] { return log.size() == 2; });
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, (std::vector<std::string>{"read failed", "close callback"}));
}

// A partial read with nothing buffered reads straight into a string the thread kept from an
// earlier write, and what does not fit in it into the read buffer in the same call (a scatter
// read: readv on a socket; two reads where the stream has no readv of its own, as a pipe or TLS,
// whose socket holds records, not data). The string is smaller than what arrived here: the
// result is still all of it (as in Tornado, a partial read returns what has arrived, up to its
// size), in order. Over TLS, a readv on the socket delivered the records' ciphertext.
TEST_P(ReadWriteTest, PartialReadPastAKeptStringReturnsAllThatArrived) {
  StreamPair s = MakePair();
  // A 4 KiB answer, once sent, is the thread's most recently kept string.
  ASSERT_TRUE(Await(s.writer->Write(std::string(4096, 'k'))).ok());
  ASSERT_EQ(Await(s.reader->ReadBytes(4096))->size(), 4096u);

  std::string burst(48 * 1024, '\0');
  for (size_t i = 0; i < burst.size(); ++i) {
    burst[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  }
  ASSERT_TRUE(Await(s.writer->Write(burst)).ok());
  // All of it waits in the reader's fd (as records over TLS, which take more bytes).
  int available = 0;
  RunUntil([&] {
    return ioctl(s.reader->fileno(), FIONREAD, &available) == 0 &&
           available >= static_cast<int>(burst.size());
  });
  absl::StatusOr<std::string> data = Await(s.reader->ReadBytes(64 * 1024, /*partial=*/true));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), burst.size());
  EXPECT_TRUE(*data == burst) << "bytes lost, reordered or not decrypted past the kept string";
}

// A stream destroyed before its scheduled close callback runs never calls it: the callback
// usually captures the stream's owner, which may be gone too.
TEST_P(ReadWriteTest, CloseCallbackNeverRunsAfterTheStreamIsGone) {
  StreamPair s = MakePair();
  bool ran = false;
  s.reader->SetCloseCallback([&] { ran = true; });
  s.reader->Close();  // schedules the callback
  s.reader.reset();
  RunFor(absl::Milliseconds(20));
  EXPECT_FALSE(ran);
  // While the stream lives, the callback runs.
  bool writer_ran = false;
  s.writer->SetCloseCallback([&] { writer_ran = true; });
  RunUntil([&] { return writer_ran; });
}

// Nor do the other callbacks a stream schedules on the loop (a read deferred for fairness, the
// end-of-iteration flush of its writes): run after the stream is gone, they do nothing. Under
// ASan, one that touched the freed stream fails this test.
TEST_P(ReadWriteTest, LoopCallbacksOfADestroyedStreamDoNothing) {
  StreamPair s = MakePair();
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "x\n";
  ASSERT_TRUE(Await(s.writer->Write(lines)).ok());
  RunFor(absl::Milliseconds(10));  // all in the reader's kernel buffer: one read takes them
  // Buffered lines are read inline until the iteration's budget is spent; the next read waits
  // for the loop.
  Future<std::string> deferred;
  int inline_reads = 0;
  for (; inline_reads < 200; ++inline_reads) {
    deferred = s.reader->ReadUntil("\n");
    if (!deferred.done()) break;
  }
  ASSERT_LT(inline_reads, 200) << "no read was deferred";
  Future<void> flushed = s.writer->Write("unsent\n");  // flushed at the iteration's end
  s.reader.reset();
  s.writer.reset();
  RunFor(absl::Milliseconds(20));
  // Closing settled the deferred read: with a buffered line, or as closed.
  ASSERT_TRUE(deferred.done());
  if (deferred.result().ok()) {
    EXPECT_EQ(*deferred.result(), "x\n");
  } else {
    EXPECT_TRUE(IsStreamClosedError(deferred.result().status())) << deferred.result().status();
  }
  EXPECT_TRUE(flushed.done());
}

// A stream's flush at the end of the iteration is a slot in the loop's list: one that a read
// flushed early (it had nothing more to answer), then scheduled again, and then went away, leaves
// no slot behind that the loop would call. Under ASan, a stale one fails this test.
TEST_P(ReadWriteTest, AStreamGoneAfterTwoFlushesInOneIterationLeavesNoneBehind) {
  if (!IsSocket()) GTEST_SKIP() << "the writer reads too";
  StreamPair gone = MakePair();
  StreamPair stays = MakePair();
  Future<std::string> unanswered;
  loop().AddCallback([&] {
    gone.writer->Write("first\n");              // flush scheduled
    unanswered = gone.writer->ReadUntil("\n");  // waits for the fd: flushes now
    gone.writer->Write("second\n");             // scheduled again
    stays.writer->Write("stays\n");
    gone.writer.reset();
  });
  absl::StatusOr<std::string> first = Await(gone.reader->ReadUntil("\n"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "first\n");
  absl::StatusOr<std::string> stayed = Await(stays.reader->ReadUntil("\n"));
  ASSERT_TRUE(stayed.ok()) << stayed.status();
  EXPECT_EQ(*stayed, "stays\n");
  ASSERT_TRUE(unanswered.done());
  EXPECT_TRUE(IsStreamClosedError(unanswered.result().status())) << unanswered.result().status();
}

// A pattern that matches the empty string waits for data, as in Tornado (which searches only a
// non-empty buffer), instead of resolving at once with "" forever without reading.
TEST_P(ReadWriteTest, RegexMatchingTheEmptyStringWaitsForData) {
  StreamPair s = MakePair();
  Future<std::string> read = s.reader->ReadUntilRegex("x*");
  EXPECT_FALSE(read.done());
  s.writer->Write("xxy");
  absl::StatusOr<std::string> data = Await(read);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "xx");
}

// A non-partial ReadInto that fails at the close gives back what it had placed in the caller's
// buffer: those bytes stay readable, in order, before anything buffered after them.
TEST_P(ReadWriteTest, AFailedReadIntoLosesNoByte) {
  StreamPair s = MakePair();
  std::string buffer(10, '\0');
  Future<size_t> read = s.reader->ReadInto(absl::MakeSpan(buffer));
  ASSERT_TRUE(Await(s.writer->Write("abcd")).ok());
  RunFor(absl::Milliseconds(20));  // "abcd" lands in the caller's buffer
  s.writer->Close();
  absl::StatusOr<size_t> n = Await(read);
  EXPECT_TRUE(IsStreamClosedError(n.status())) << n.status();
  absl::StatusOr<std::string> rest = Await(s.reader->ReadUntilClose());
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, "abcd");
}

// ReadUntilClose past max_buffer_size fails (no silent truncation); the stream closes with
// StreamBufferFullError.
TEST_P(ReadWriteTest, ReadUntilCloseOverflowFails) {
  BaseIOStream::Options options;
  options.max_buffer_size = 4096;
  StreamPair s = MakePair(options);
  Future<std::string> read = s.reader->ReadUntilClose();
  s.writer->Write(std::string(64 * 1024, 'o'));
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::string> data = Await(read);
  ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(IsStreamClosedError(data.status())) << data.status();
  EXPECT_TRUE(IsStreamBufferFullError(RealError(data.status()))) << data.status();
  EXPECT_TRUE(IsStreamBufferFullError(s.reader->error())) << s.reader->error();
}

// Backpressure: an echoing stream whose peer sends without reading stops reading once its unsent
// answers pass the high-water mark, so its memory stays bounded; when the peer reads, it resumes
// and every answer arrives, in order.
TEST_P(ReadWriteTest, BackpressureHoldsReadsUntilTheWritesDrain) {
  if (IsPipe()) GTEST_SKIP() << "a pipe pair carries data one way only";
  BaseIOStream::Options held;
  held.write_high_water_mark = 64 * 1024;
  StreamPair s = MakePair(held, BaseIOStream::Options());
  Task<void> echo = [](BaseIOStream& stream) -> Task<void> {
    for (;;) {
      absl::StatusOr<std::string> line = co_await stream.ReadUntil("\n");
      if (!line.ok()) co_return absl::OkStatus();
      stream.Write(*std::move(line));
    }
  }(*s.reader);
  std::string request;
  for (int i = 0; request.size() < 8 * 1024 * 1024; ++i) {
    absl::StrAppend(&request, i, " ", std::string(90, 'b'), "\n");
  }
  s.writer->Write(request);
  size_t most_queued = 0;
  const absl::Time until = absl::Now() + absl::Milliseconds(300);
  while (absl::Now() < until) {
    RunFor(absl::Milliseconds(5));
    most_queued = std::max(most_queued, s.reader->write_buffer_size());
  }
  // At most the mark plus what one pass of inline reads answers before it is checked again.
  // (Without backpressure it reaches megabytes here: the reader echoes all the kernel holds.)
  EXPECT_LE(most_queued, 64 * 1024 + 4096) << most_queued;
  absl::StatusOr<std::string> answers = Await(s.writer->ReadBytes(request.size()));
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_TRUE(*answers == request);
  s.writer->Close();
  EXPECT_TRUE(Await(echo.future()).ok());
}

// Lines the buffer holds already are handed out at once, but within the same bounds as any
// inline read: at most a budget of them per iteration (then the loop runs others) ...
TEST_P(ReadWriteTest, BufferedLinesYieldToTheLoop) {
  StreamPair s = MakePair();
  constexpr int kLines = 1000;
  std::string lines;
  for (int i = 0; i < kLines; ++i) lines += "x\n";
  ASSERT_TRUE(Await(s.writer->Write(lines)).ok());
  RunFor(absl::Milliseconds(10));  // all in the reader's kernel buffer: one read takes them
  int read = 0;
  int read_when_loop_ran = -1;
  auto drain = [&]() -> Task<void> {
    while (read < kLines) {
      absl::StatusOr<std::string> line = co_await s.reader->ReadUntil("\n");
      if (!line.ok()) co_return line.status();
      if (++read == 1) loop().AddCallback([&] { read_when_loop_ran = read; });
    }
    co_return absl::OkStatus();
  };
  Task<void> task = drain();
  ASSERT_TRUE(Await(task.future()).ok());
  EXPECT_GE(read_when_loop_ran, 1);
  EXPECT_LE(read_when_loop_ran, 100) << "the loop waited for most of the buffered lines";
}

// ... and none while backpressure holds reads: an echo of buffered lines queues no more than
// the mark and one line before it waits for its writes to drain.
TEST_P(ReadWriteTest, BackpressureHoldsBufferedLines) {
  if (IsPipe()) GTEST_SKIP() << "a pipe pair carries data one way only";
  BaseIOStream::Options held;
  held.write_high_water_mark = 1024;
  StreamPair s = MakePair(held, BaseIOStream::Options());
  const std::string line = std::string(99, 'b') + "\n";
  std::string lines;
  for (int i = 0; i < 50; ++i) lines += line;
  ASSERT_TRUE(Await(s.writer->Write(lines)).ok());
  RunFor(absl::Milliseconds(10));
  size_t most_queued = 0;
  Task<void> echo = [](BaseIOStream& stream, size_t& most_queued) -> Task<void> {
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<std::string> got = co_await stream.ReadUntil("\n");
      if (!got.ok()) co_return got.status();
      stream.Write(*std::move(got));
      most_queued = std::max(most_queued, stream.write_buffer_size());
    }
    co_return absl::OkStatus();
  }(*s.reader, most_queued);
  ASSERT_TRUE(Await(echo.future()).ok());
  EXPECT_LE(most_queued, 1024 + line.size()) << most_queued;
  absl::StatusOr<std::string> answers = Await(s.writer->ReadBytes(lines.size()));
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_EQ(*answers, lines);
}

// A write's future (which refers to its stream's progress rather than owning a state) answers
// the same from every copy, through every way of asking, and outlives its stream: a write that
// went out stays OK, one still queued when the stream went away fails with StreamClosedError.
TEST_P(ReadWriteTest, WriteFuturesOutliveTheirStream) {
  StreamPair s = MakePair();
  Future<void> sent = s.writer->Write("first\n");
  ASSERT_TRUE(Await(sent).ok());
  // More than the kernel holds for a peer that does not read: the end stays queued.
  Future<void> queued = s.writer->Write(std::string(16 * 1024 * 1024, 'x'));
  const Future<void> copy = queued;
  RunFor(absl::Milliseconds(20));
  ASSERT_FALSE(queued.done());
  ASSERT_FALSE(copy.done());
  absl::Status from_callback = absl::UnknownError("not called");
  queued.AddDoneCallback([&](const absl::Status& status) { from_callback = status; });
  s.writer.reset();
  ASSERT_TRUE(queued.done());
  EXPECT_TRUE(IsStreamClosedError(queued.result())) << queued.result();
  EXPECT_TRUE(IsStreamClosedError(copy.result())) << copy.result();
  EXPECT_TRUE(IsStreamClosedError(Await(copy))) << Await(copy);
  RunFor(absl::Milliseconds(5));
  EXPECT_TRUE(IsStreamClosedError(from_callback)) << from_callback;
  EXPECT_TRUE(sent.result().ok()) << sent.result();
  absl::Status late = absl::UnknownError("not called");
  sent.AddDoneCallback([&](const absl::Status& status) { late = status; });
  RunFor(absl::Milliseconds(5));
  EXPECT_TRUE(late.ok()) << late;
}

// Tornado 4's callback forms run from the loop with the result.
TEST_P(ReadWriteTest, CallbackForms) {
  StreamPair s = MakePair();
  std::vector<std::string> log;
  s.writer->Write("ab\ncd", [&](absl::Status status) { log.push_back(status.ok() ? "w" : "!"); });
  s.reader->ReadUntil("\n", 0, [&](absl::StatusOr<std::string> line) {
    log.push_back(*line);
    s.reader->ReadBytes(2, false, [&](absl::StatusOr<std::string> rest) {
      log.push_back(*rest);
      loop().Stop();
    });
  });
  ASSERT_TRUE(loop().Start().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"w", "ab\n", "cd"}));
}

INSTANTIATE_TEST_SUITE_P(Streams, ReadWriteTest, AllStreamKinds(), StreamKindName);

}  // namespace
}  // namespace gust
