// Stream costs: ReadUntil and ReadUntilRegex over data that trickles in, ReadBytes bulk
// throughput, many small writes, and the heap an idle stream holds. Each has a baseline run in
// the same binary (tools/benchmark.sh prints the ratios):
//   - trickled reads: ReadBytes of the same bytes in the same pieces (pure transport cost), so
//     ReadUntil / ReadBytes near 1 means the delimiter search adds nothing per piece;
//   - bulk and small writes: the same transfer with raw read()/write() system calls.
// Run: bazel run -c opt //iostream:io_stream_benchmark

#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "iostream/base_io_stream.h"
#include "iostream/io_loop.h"
#include "iostream/io_stream.h"
#include "re2/re2.h"

namespace gust {
namespace {

// A stream whose fd (an eventfd that is always readable) wakes the loop every iteration, and
// whose reads deliver `piece` bytes of `source` and then report "would block": exactly one
// piece per loop iteration, the worst case for a search that rescans its buffer.
class TrickleStream : public BaseIOStream {
 public:
  TrickleStream(std::string source, size_t piece, const Options& options)
      : BaseIOStream(options),
        fd_(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC)),
        source_(std::move(source)),
        piece_(piece) {}
  ~TrickleStream() override { CloseForDestruction(); }
  int fileno() const override { return fd_; }
  void Rewind() { offset_ = 0; }

 protected:
  void CloseFd() override { close(fd_); }
  absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) override {
    return data[0].iov_len;
  }
  absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) override {
    if (paused_ || offset_ == source_.size()) {
      paused_ = false;
      return std::optional<size_t>();
    }
    const size_t n = std::min({piece_, buffer.size(), source_.size() - offset_});
    std::memcpy(buffer.data(), source_.data() + offset_, n);
    offset_ += n;
    paused_ = true;
    return std::optional<size_t>(n);
  }
  absl::Status GetFdError() override { return absl::OkStatus(); }

 private:
  int fd_;
  std::string source_;
  size_t piece_;
  size_t offset_ = 0;
  bool paused_ = false;
};

std::unique_ptr<IOLoop> NewLoop() {
  std::unique_ptr<IOLoop> loop = *IOLoop::Create();
  loop->MakeCurrent();
  return loop;
}

BaseIOStream::Options LargeBuffers(size_t total) {
  BaseIOStream::Options options;
  options.max_buffer_size = total * 2 + (1 << 20);
  return options;
}

enum class TrickleRead { kReadBytes, kReadUntil, kReadUntilRegex };

// state.range(0) bytes ending in "\r\n", delivered state.range(1) bytes per loop iteration.
template <TrickleRead kRead>
void BM_Trickle(benchmark::State& state) {
  const size_t total = state.range(0);
  const size_t piece = state.range(1);
  std::unique_ptr<IOLoop> loop = NewLoop();
  std::string source(total - 2, 'x');
  source += "\r\n";
  TrickleStream stream(std::move(source), piece, LargeBuffers(total));
  auto regex = std::make_shared<const RE2>("\r\n");
  for (auto _ : state) {
    stream.Rewind();
    absl::StatusOr<std::string> data = loop->RunSync([&] {
      switch (kRead) {
        case TrickleRead::kReadBytes:
          return stream.ReadBytes(total);
        case TrickleRead::kReadUntil:
          return stream.ReadUntil("\r\n");
        case TrickleRead::kReadUntilRegex:
          return stream.ReadUntilRegex(regex);
      }
      return stream.ReadBytes(total);
    });
    if (!data.ok() || data->size() != total) {
      state.SkipWithError("read failed");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * total);
}

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

void TrickleSizes(benchmark::internal::Benchmark* b) {
  b->Args({kMiB, kKiB})->Args({16 * kMiB, kKiB})->Args({100 * kMiB, 4 * kKiB});
  b->Args({kMiB, 1})->Args({4 * kMiB, 1});
  b->Unit(benchmark::kMillisecond)->Iterations(3);
}
BENCHMARK_TEMPLATE(BM_Trickle, TrickleRead::kReadBytes)->Apply(TrickleSizes);
BENCHMARK_TEMPLATE(BM_Trickle, TrickleRead::kReadUntil)->Apply(TrickleSizes);
// RE2 cannot resume a search: each piece rescans the buffer, so this grows as size x pieces.
BENCHMARK_TEMPLATE(BM_Trickle, TrickleRead::kReadUntilRegex)
    ->Args({256 * kKiB, kKiB})
    ->Args({kMiB, kKiB})
    ->Args({4 * kMiB, kKiB})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// ReadUntilRegex with max_bytes, the recommended form: 16 KiB messages ending in "\r\n\r\n",
// trickled in 1 KiB pieces, each read bounded by 64 KiB.
void BM_TrickleRegexBounded(benchmark::State& state) {
  constexpr size_t kMessage = 16 * 1024;
  constexpr int kMessages = 256;
  std::unique_ptr<IOLoop> loop = NewLoop();
  std::string source;
  for (int i = 0; i < kMessages; ++i) source += std::string(kMessage - 4, 'h') + "\r\n\r\n";
  TrickleStream stream(std::move(source), kKiB, LargeBuffers(kMessage));
  auto regex = std::make_shared<const RE2>("\r?\n\r?\n");
  for (auto _ : state) {
    stream.Rewind();
    for (int i = 0; i < kMessages; ++i) {
      absl::StatusOr<std::string> data =
          loop->RunSync([&] { return stream.ReadUntilRegex(regex, 64 * 1024); });
      if (!data.ok() || data->size() != kMessage) return state.SkipWithError("read failed");
    }
  }
  state.SetBytesProcessed(state.iterations() * kMessage * kMessages);
}
BENCHMARK(BM_TrickleRegexBounded)->Unit(benchmark::kMillisecond);

// A connected AF_UNIX socketpair with large kernel buffers.
struct Pair {
  Pair() {
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
    const int size = 4 * kMiB;
    for (int fd : fds) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
  }
  int fds[2];
};

// Bulk transfer: 1 MiB writes, 1 MiB ReadBytes, both streams on one loop.
void BM_BulkReadBytes(benchmark::State& state) {
  const size_t block = state.range(0);
  std::unique_ptr<IOLoop> loop = NewLoop();
  Pair pair;
  IOStream reader(pair.fds[0]);
  IOStream writer(pair.fds[1]);
  const std::string payload(block, 'b');
  for (auto _ : state) {
    writer.Write(payload);
    absl::StatusOr<std::string> data = loop->RunSync([&] { return reader.ReadBytes(block); });
    if (!data.ok()) return state.SkipWithError("read failed");
  }
  state.SetBytesProcessed(state.iterations() * block);
}
BENCHMARK(BM_BulkReadBytes)->Arg(64 * kKiB)->Arg(kMiB);

// Baseline: the same transfer with raw non-blocking write()/read() in one thread.
void BM_BulkRawSyscalls(benchmark::State& state) {
  const size_t block = state.range(0);
  Pair pair;
  const std::string payload(block, 'b');
  std::string sink(64 * kKiB, '\0');
  for (auto _ : state) {
    size_t written = 0;
    size_t read_total = 0;
    while (read_total < block) {
      if (written < block) {
        const ssize_t n = write(pair.fds[1], payload.data() + written, block - written);
        if (n > 0) written += n;
      }
      const ssize_t n = read(pair.fds[0], sink.data(), sink.size());
      if (n > 0) read_total += n;
    }
  }
  close(pair.fds[0]);
  close(pair.fds[1]);
  state.SetBytesProcessed(state.iterations() * block);
}
BENCHMARK(BM_BulkRawSyscalls)->Arg(64 * kKiB)->Arg(kMiB);

// Many small writes in one iteration: gust gathers them into one writev at the end of it.
void BM_SmallWrites(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  std::unique_ptr<IOLoop> loop = NewLoop();
  Pair pair;
  IOStream writer(pair.fds[1]);
  std::string sink(kMiB, '\0');
  for (auto _ : state) {
    Future<void> last;
    for (int i = 0; i < count; ++i) last = writer.Write("0123456789abcdef");
    if (!loop->RunSync([&] { return last; }).ok()) return state.SkipWithError("write failed");
    while (read(pair.fds[0], sink.data(), sink.size()) > 0) {
    }
  }
  close(pair.fds[0]);
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_SmallWrites)->Arg(16)->Arg(1000);

// Baseline: one write() system call per small write, as Tornado and Asio do.
void BM_SmallWritesRawSyscalls(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  Pair pair;
  std::string sink(kMiB, '\0');
  for (auto _ : state) {
    for (int i = 0; i < count; ++i) {
      if (write(pair.fds[1], "0123456789abcdef", 16) != 16) return state.SkipWithError("write");
    }
    while (read(pair.fds[0], sink.data(), sink.size()) > 0) {
    }
  }
  close(pair.fds[0]);
  close(pair.fds[1]);
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_SmallWritesRawSyscalls)->Arg(16)->Arg(1000);

// Heap held by an idle, connected IOStream with a close callback (so it watches its fd), after
// it has served one read: reported as the counter heap_bytes_per_stream.
void BM_IdleStreamHeap(benchmark::State& state) {
  constexpr int kStreams = 2000;
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 2 * kStreams + 100);
  setrlimit(RLIMIT_NOFILE, &limit);
  std::unique_ptr<IOLoop> loop = NewLoop();
  for (auto _ : state) {
    std::vector<int> peers;
    std::vector<std::unique_ptr<IOStream>> streams;
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kStreams; ++i) {
      Pair pair;
      peers.push_back(pair.fds[1]);
      streams.push_back(std::make_unique<IOStream>(pair.fds[0]));
      streams.back()->SetCloseCallback([] {});
      if (write(pair.fds[1], "ping", 4) != 4) return state.SkipWithError("write");
      if (!loop->RunSync([&] { return streams.back()->ReadBytes(4); }).ok()) {
        return state.SkipWithError("read failed");
      }
    }
    const size_t after = mallinfo2().uordblks;
    state.counters["heap_bytes_per_stream"] =
        static_cast<double>(after - before) / kStreams;
    state.counters["read_buffer_bytes"] = static_cast<double>(streams[0]->buffer_heap_bytes());
    streams.clear();
    for (int fd : peers) close(fd);
  }
}
BENCHMARK(BM_IdleStreamHeap)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gust
