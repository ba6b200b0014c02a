// Heap allocations per operation, counted by replacing the global operator new in this test
// binary: a pipelined line echo costs at most one allocation per line in steady state (the
// line's own string), so futures, promises, tasks and the loop allocate nothing per operation.

#include <fcntl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/io_stream.h"
#include "iostream/task.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* CountedAllocate(size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(size_t size) { return CountedAllocate(size); }
void* operator new[](size_t size) { return CountedAllocate(size); }
void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, size_t) noexcept { std::free(block); }
void operator delete[](void* block, size_t) noexcept { std::free(block); }

namespace gust {
namespace {

class AllocationTest : public testing::LoopTest {};

Task<void> EchoLines(IOStream& stream) {
  for (;;) {
    absl::StatusOr<std::string> line = co_await stream.ReadUntil("\n");
    if (!line.ok()) co_return absl::OkStatus();
    stream.Write(*std::move(line));  // not awaited, as line_server does
  }
}

// Sends `lines` lines of 40 bytes (past any small-string buffer) in one burst and reads the
// answers back, on another thread, with no allocation of its own.
void PipelinedClient(int fd, int lines, std::atomic<bool>* done) {
  std::string request;
  for (int i = 0; i < lines; ++i) {
    absl::StrAppend(&request, absl::Dec(i, absl::kZeroPad8), " ", std::string(30, 'x'), "\n");
  }
  std::thread reader([fd, expected = request.size(), done] {
    static char buffer[1 << 16];
    size_t received = 0;
    while (received < expected) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received += n;
    }
    done->store(true);
  });
  counting.store(true);
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += n;
  }
  reader.join();
  counting.store(false);
}

TEST_F(AllocationTest, PipelinedEchoAllocatesAtMostOncePerLine) {
  testing::SocketPair pair;
  // The client's end blocks; the server's end belongs to the stream.
  const int client = dup(pair.fds[1]);
  fcntl(client, F_SETFL, 0);
  IOStream server(dup(pair.fds[0]));
  Task<void> echo = EchoLines(server);

  // Warm up (buffers, pools, the loop's vectors), then count.
  for (int round = 0; round < 2; ++round) {
    const int lines = 10000;
    allocations.store(0);
    std::atomic<bool> done{false};
    std::thread client_thread([&] { PipelinedClient(client, lines, &done); });
    RunUntil([&] { return done.load(); }, absl::Seconds(60));
    client_thread.join();
    const long counted = allocations.load();
    if (round == 1) {
      RecordProperty("allocations_per_line", absl::StrCat(static_cast<double>(counted) / lines));
      // The line strings, plus a few for the test's own loop runs (RunUntil's timers).
      EXPECT_LE(counted, lines + 16) << counted << " allocations for " << lines << " lines";
    }
  }
  close(client);
}

Task<void> EchoChunks(IOStream& stream) {
  for (;;) {
    absl::StatusOr<std::string> data = co_await stream.ReadBytes(64 * 1024, /*partial=*/true);
    if (!data.ok()) co_return absl::OkStatus();
    stream.Write(*std::move(data));  // not awaited, as echo_server does
  }
}

// A bulk echo (partial reads of up to 64 KiB, each written back) reads into the strings its
// earlier answers were sent from, once they are sent (spare_strings.h), instead of allocating a
// result per read and copying into it. Lock-step on one thread, so that each answer is out
// before the next chunk arrives: with a copy per read, every round trip would allocate.
TEST_F(AllocationTest, BulkEchoReadsIntoStringsItHasSent) {
  testing::SocketPair pair;
  const int client = pair.fds[1];
  IOStream server(dup(pair.fds[0]));
  Task<void> echo = EchoChunks(server);
  const std::string chunk(64 * 1024, 'x');
  std::string back(chunk.size(), '\0');
  auto round_trip = [&] {
    ASSERT_EQ(send(client, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL),
              static_cast<ssize_t>(chunk.size()));
    size_t received = 0;
    RunUntil([&] {
      const ssize_t n =
          recv(client, back.data() + received, back.size() - received, MSG_DONTWAIT);
      if (n > 0) received += n;
      return received == back.size();
    });
    ASSERT_EQ(back, chunk);
  };
  for (int i = 0; i < 8; ++i) round_trip();  // warm up (pools, the loop's vectors, spares)
  const int rounds = 256;
  allocations.store(0);
  counting.store(true);
  for (int i = 0; i < rounds; ++i) round_trip();
  counting.store(false);
  const long counted = allocations.load();
  RecordProperty("allocations_per_round_trip", absl::StrCat(static_cast<double>(counted) / rounds));
  EXPECT_LE(counted, rounds / 8) << counted << " allocations for " << rounds << " round trips";
}

// As seastar's: a future made ready holds its result and allocates nothing, even on a thread
// whose pools are cold and which has no loop; so does a copy of it.
TEST_F(AllocationTest, AReadyFutureAllocatesNothing) {
  long counted = -1;
  std::thread([&counted] {
    allocations.store(0);
    counting.store(true);
    Future<int> ready = MakeReadyFuture<int>(7);
    Future<int> copy = ready;
    Future<void> done = MakeReadyFuture<void>(absl::OkStatus());
    const bool as_expected = ready.done() && copy.result().value() == 7 && done.result().ok();
    counting.store(false);
    counted = as_expected ? allocations.load() : -1;
  }).join();
  EXPECT_EQ(counted, 0);
}

}  // namespace
}  // namespace gust
