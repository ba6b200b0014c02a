// BaseIOStream: buffered, asynchronous reads and writes on a non-blocking fd; Tornado's
// tornado.iostream.BaseIOStream. Subclasses (IOStream for sockets, PipeIOStream for pipes,
// SSLIOStream for TLS) supply the fd hooks; everything else lives here.
//
// Reads: one at a time. Each returns a Future that resolves with the data (or fails with a
// status from errors.h). A read that the buffer (or one non-blocking read attempted inside the
// call) can satisfy returns a future that is already done, so `co_await` continues at once.
// Writes: any number may be pending; their futures resolve in order, each once every byte up to
// and including it has been accepted by the fd. Writes made during one loop iteration are sent
// together, in one writev(): when the stream's pending read has to wait for the fd (it has
// answered everything it had), else at the end of that iteration.
//
// Semantics follow Tornado 6.1+: every write future resolves (or fails); Close() fails every
// pending future and then schedules the close callback; data received before a close is never
// lost (a read that the buffer can satisfy still succeeds after the close). Failures always come
// through the returned Future, which may be already failed; nothing is thrown, and no read or
// write ever completes by calling back into the caller before it returns. The deliberate
// differences from Tornado are listed in README.md and conformance/BEHAVIORS.md.
//
// Memory is bounded: at most `max_buffer_size` bytes are buffered for reading (more fails the
// pending read and closes the stream with StreamBufferFullError); the stream reads from the fd
// only what the pending read needs, plus at most one `read_chunk_size` chunk, so a slow reader
// pushes back on the peer through the kernel; an idle stream holds no read buffer.
//
// End of stream: a read the buffered data satisfies is never lost to an end of stream behind it.
// When the peer finishes sending (a half-close) while writes are still unsent, the stream stays
// open until they are out, then closes (Tornado closes at once and drops them).
//
// Lifetime: the stream may be destroyed at any time on its loop's thread, including from a
// callback or a coroutine resumed by one of its futures. Destroying it closes it, which drops
// what is still unsent after one last attempt: await the last write's future first to deliver
// everything. It must be destroyed before its IOLoop (it holds a reference to the loop, as
// Tornado's streams do).
// Thread safety: none; use a stream only on the thread of the IOLoop it was made on.

#ifndef GUST_IOSTREAM_BASE_IO_STREAM_H_
#define GUST_IOSTREAM_BASE_IO_STREAM_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "iostream/errors.h"
#include "iostream/future.h"
#include "iostream/internal/fd_handler.h"
#include "iostream/internal/liveness.h"
#include "iostream/internal/read_buffer.h"
#include "iostream/internal/write_buffer.h"
#include "iostream/io_loop.h"

namespace re2 {
class RE2;
}

namespace gust {

// Registered on its loop as the fd's handler (internal::FdHandler): the loop allocates nothing
// for it, and the destructor removes the registration.
class BaseIOStream : private internal::FdHandler {
 public:
  struct Options {
    // Tornado: max_buffer_size. The most bytes buffered for reading; 0 means the default,
    // 100 MiB.
    size_t max_buffer_size = 0;
    // Tornado: read_chunk_size. The most bytes one read system call takes; 0 means the
    // default, 64 KiB. Clamped to max_buffer_size / 2, as Tornado does.
    size_t read_chunk_size = 0;
    // Tornado: max_write_buffer_size. The most unsent bytes Write() queues; 0 means unlimited.
    size_t max_write_buffer_size = 0;
    // Backpressure (not in Tornado): while the unsent writes (their bytes, plus
    // kWriteOverhead per pending write waited on) exceed this, the stream stops satisfying reads
    // and so stops reading the fd, until they drain to half of it. A peer that sends without
    // reading then fills its own socket buffers instead of this process's memory. 0 turns it off
    // (the default for a stream made directly; TCPServer's accepted streams default to
    // kDefaultServerWriteHighWaterMark).
    size_t write_high_water_mark = 0;
  };

  static constexpr size_t kDefaultMaxBufferSize = 100 * 1024 * 1024;
  static constexpr size_t kDefaultReadChunkSize = 64 * 1024;
  static constexpr size_t kDefaultServerWriteHighWaterMark = 1024 * 1024;
  // What one pending write that somebody waits on costs besides its bytes (its future's
  // state), for the high-water mark. A write whose future nobody waits on costs only its bytes.
  static constexpr size_t kWriteOverhead = 128;

  // Tornado 4's callback forms. A read callback gets the read's result (Tornado called it only
  // on success; gust passes failures too). A streaming callback gets each piece of data as it
  // arrives; the final result of such a read is then empty. Both run from the loop, never inside
  // the call that started the read.
  using ReadCallback = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
  using ReadIntoCallback = absl::AnyInvocable<void(absl::StatusOr<size_t>)>;
  using StreamingCallback = absl::AnyInvocable<void(std::string)>;
  using WriteCallback = absl::AnyInvocable<void(absl::Status)>;
  using CloseCallback = absl::AnyInvocable<void()>;

  BaseIOStream(const BaseIOStream&) = delete;
  BaseIOStream& operator=(const BaseIOStream&) = delete;
  virtual ~BaseIOStream();

  // --- Reads. At most one may be pending; starting another fails with FailedPreconditionError
  // ("Already reading"), or StreamClosedError if the stream is closed. ---

  // Tornado: read_bytes(num_bytes, partial). Resolves with exactly `num_bytes` bytes, or with
  // `partial`, as soon as at least one byte is available, with at most `num_bytes`. A zero-byte
  // read resolves at once with "". A stream that closes before enough data arrives fails the
  // read with StreamClosedError; a non-partial read never resolves short.
  Future<std::string> ReadBytes(size_t num_bytes, bool partial = false);
  void ReadBytes(size_t num_bytes, bool partial, ReadCallback callback);
  // Tornado 4: read_bytes(num_bytes, callback, streaming_callback). Delivers the next
  // `num_bytes` bytes to `streaming_callback` as they arrive; the future (and `callback`, if
  // given) then resolves with "".
  Future<std::string> ReadBytesStreaming(size_t num_bytes, StreamingCallback streaming_callback);
  Future<std::string> ReadBytesStreaming(size_t num_bytes, StreamingCallback streaming_callback,
                                         ReadCallback callback);

  // Tornado: read_until(delimiter, max_bytes). Resolves with everything up to and including the
  // first occurrence of `delimiter`. If the delimiter is not found within `max_bytes` bytes
  // (0: no limit), the stream is closed and the read fails with StreamClosedError whose real
  // error is UnsatisfiableReadError. The search resumes where the last one stopped, so it costs
  // time linear in the bytes received however the data is split. An empty delimiter, or a
  // `max_bytes` smaller than the delimiter, is an InvalidArgumentError.
  Future<std::string> ReadUntil(absl::string_view delimiter, size_t max_bytes = 0);
  void ReadUntil(absl::string_view delimiter, size_t max_bytes, ReadCallback callback);

  // Tornado: read_until_regex(regex, max_bytes). Resolves with everything up to the end of the
  // first match of `pattern` (RE2 syntax, searched anywhere in the buffered data). An invalid
  // pattern is an InvalidArgumentError; `max_bytes` is as for ReadUntil. As in Tornado, only a
  // non-empty buffer is searched, so a pattern that matches the empty string waits for data.
  //
  // Cost: RE2 cannot resume a search, so each time new data arrives the buffered data is
  // searched again from its start (in linear time). During one burst of data the stream
  // searches only after the first chunk and each time the buffer has doubled, plus once at the
  // end, so a burst costs O(bytes). Data that trickles in, k pieces adding up to n bytes, costs
  // O(k * n) without `max_bytes`, and O(k * max_bytes) with it: set `max_bytes` when the peer
  // is not trusted (Tornado's HTTP layer uses 64 KiB), or use ReadUntil when the terminator is a
  // fixed string.
  Future<std::string> ReadUntilRegex(absl::string_view pattern, size_t max_bytes = 0);
  // The same with a compiled pattern, shared so it need not be compiled per read.
  Future<std::string> ReadUntilRegex(std::shared_ptr<const re2::RE2> regex, size_t max_bytes = 0);
  void ReadUntilRegex(absl::string_view pattern, size_t max_bytes, ReadCallback callback);

  // Tornado: read_until_close(). Resolves with everything received until the stream closes
  // (resolving at once if it is closed already). It buffers everything, up to
  // max_buffer_size; past that it fails (StreamBufferFullError as the real error) rather than
  // resolve truncated. For flow control, loop on ReadBytes(n, /*partial=*/true) instead.
  Future<std::string> ReadUntilClose();
  void ReadUntilClose(ReadCallback callback);
  // Tornado 4: read_until_close(callback, streaming_callback). The future (and `callback`, if
  // given) then resolves with "".
  Future<std::string> ReadUntilCloseStreaming(StreamingCallback streaming_callback);
  Future<std::string> ReadUntilCloseStreaming(StreamingCallback streaming_callback,
                                              ReadCallback callback);

  // Tornado: read_into(buf, partial). Fills `buffer` (which must stay valid until the future
  // resolves) and resolves with the number of bytes written to it: buffer.size(), or with
  // `partial`, at least one. Buffered data is copied first; the rest is read from the fd
  // straight into `buffer` when the stream's own buffer is empty. An empty buffer resolves at
  // once with 0. If the read fails (the stream closes short of `buffer.size()` bytes), the bytes
  // it had placed in `buffer` are put back in the stream's buffer: no byte is lost.
  Future<size_t> ReadInto(absl::Span<char> buffer, bool partial = false);
  void ReadInto(absl::Span<char> buffer, bool partial, ReadIntoCallback callback);

  // --- Writes ---

  // Tornado: write(data). Queues `data` and resolves once it (and everything queued before it)
  // has been accepted by the fd: that is, the kernel has it, not that the peer received it.
  // Fails with StreamClosedError on a closed stream, and with StreamBufferFullError if it would
  // take the unsent bytes past max_write_buffer_size (the stream stays open; nothing is queued).
  // The string_view form copies `data` once; the rvalue std::string form adopts large strings
  // without copying.
  Future<void> Write(absl::string_view data);
  Future<void> Write(std::string&& data);
  Future<void> Write(const char* data) { return Write(absl::string_view(data)); }
  void Write(absl::string_view data, WriteCallback callback);

  // --- State and control ---

  // Tornado: close(exc_info). Closes the stream; `error`, if not OK, becomes error() and the
  // real error of the StreamClosedError that pending futures fail with. A pending read that the
  // buffered data satisfies resolves with it instead (a pending ReadUntilClose gets everything);
  // the read buffer stays readable afterwards. Queued writes get one last non-blocking attempt
  // (so Write() then Close() sends what the kernel takes, as in Tornado); what is still unsent
  // is dropped. The close callback is scheduled, never run inside Close(). Idempotent.
  void Close(absl::Status error = absl::OkStatus());

  // Tornado: set_close_callback(callback). Runs `callback` once, from the loop, after the
  // stream closes (every pending future has failed by then), unless the stream has been
  // destroyed by then: a callback never runs after its stream is gone (a stream destroyed, and
  // so closed, by its owner does not call back into that owner). With a callback set, an idle
  // stream watches its fd so that it notices a peer's close. Unlike Tornado, setting it on a stream that
  // is closed already schedules it at once (Tornado never calls it). Passing nullptr clears it.
  void SetCloseCallback(CloseCallback callback);

  // Closes the stream (ETIMEDOUT: "idle for ...") once no byte has been read from or written to
  // the fd for `timeout`; it notices within one more `timeout`. Not in Tornado. TCPServer sets
  // it on accepted streams when its Options::idle_timeout is finite. absl::InfiniteDuration()
  // turns it off.
  void SetIdleTimeout(absl::Duration timeout);

  // Tornado: set_nodelay(value). TCP_NODELAY for TCP sockets; a no-op for other streams.
  virtual void SetNodelay(bool value) {}

  // Tornado: closed(), reading(), writing(), error.
  bool closed() const { return closed_; }
  bool reading() const { return read_.kind != ReadKind::kNone; }
  bool writing() const { return !write_buffer_.empty(); }
  // Bytes queued by Write() and not yet accepted by the fd.
  size_t write_buffer_size() const { return write_buffer_.size(); }
  // Heap bytes the stream's two buffers hold now, capacity included (what an idle connection
  // costs beyond the stream object itself). Not in Tornado.
  size_t buffer_heap_bytes() const;
  // Why the stream closed: OK for a clean end of stream or a plain Close(); the system error for
  // a reset or failed read or write; UnsatisfiableReadError or StreamBufferFullError for a
  // broken limit; the TLS error for a failed handshake.
  const absl::Status& error() const { return error_; }

  // Tornado: fileno(). -1 once closed.
  virtual int fileno() const = 0;

  // The options in force (defaults filled in, the chunk size clamped).
  Options options() const;

  // The loop the stream runs on (IOLoop::Current() when it was made).
  IOLoop& io_loop() const { return loop_; }

 protected:
  explicit BaseIOStream(const Options& options);

  // --- The fd hooks subclasses implement (Tornado: close_fd, write_to_fd, read_from_fd,
  // get_fd_error). They must not call back into the stream. ---

  // Closes the fd. Called once, from Close(), after the stream has left the loop.
  virtual void CloseFd() = 0;

  // Writes from `data` (non-empty, at most 64 iovecs); returns the bytes written, 0 if the fd
  // would block (EAGAIN), or an error (use ErrnoError). Must not raise SIGPIPE.
  virtual absl::StatusOr<size_t> WriteToFd(absl::Span<const iovec> data) = 0;

  // Reads into `buffer` (non-empty); returns the bytes read, 0 at end of stream, std::nullopt if
  // nothing is available now (EAGAIN), or an error (use ErrnoError). Fewer bytes than `buffer`
  // holds must mean that nothing more is available now: the stream then waits for readiness
  // instead of asking again.
  virtual absl::StatusOr<std::optional<size_t>> ReadFromFd(absl::Span<char> buffer) = 0;

  // Optional: reads into `first`, then on into `second` (both non-empty), as ReadFromFd does into
  // one buffer (a scatter read, such as readv). A partial ReadBytes reads straight into a string
  // it hands out, with the read buffer behind it for what does not fit. The default calls
  // ReadFromFd for `first`, and again for `second` if `first` filled up.
  virtual absl::StatusOr<std::optional<size_t>> ReadFromFdScattered(absl::Span<char> first,
                                                                    absl::Span<char> second);

  // The fd's pending error (SO_ERROR for sockets), OK if none.
  virtual absl::Status GetFdError() = 0;

  // True if ReadFromFd would return data now that the poller cannot see: bytes a TLS library
  // has already taken off the socket and decrypted. The stream then comes back for them from the
  // loop instead of waiting for the fd.
  virtual bool HasReadableInput() const { return false; }

  // True if a ReadFromFd that returns fewer bytes than asked has taken all the fd held (a
  // socket's or a pipe's read has): the poller then need only report new input, and may do so
  // edge-triggered, which saves the kernel a second look at every ready fd per wait. False by
  // default and for SSLIOStream, whose reads stop at the end of a TLS record with more possibly
  // behind it on the socket: a level-triggered poller reports those.
  virtual bool ReadsDrainTheFd() const { return false; }

  // Readiness one direction waits for on behalf of the other, as a TLS library asks: kWrite if
  // the last ReadFromFd needs the fd writable first (it has bytes of its own to send), kRead if
  // the last WriteToFd needs it readable. The stream watches for it while that direction has
  // work, and such an event retries the waiting direction.
  virtual uint32_t CrossWaits() const { return 0; }

  // --- For subclasses with more state (connects, handshakes) ---

  // Called from the event handler while connecting() and the fd is ready; must end by calling
  // FinishConnecting() or Close().
  virtual void HandleConnect() {}
  // Called by Close() after the read and write futures have failed, to fail the subclass's own.
  virtual void FailPendingOperations(const absl::Status& closed_error) {}

  bool connecting() const { return connecting_; }
  // Marks the stream as connecting (or handshaking): writes are queued, not sent, reads are not
  // attempted, and the fd is watched for ConnectingInterest() until FinishConnecting().
  void StartConnecting();
  void FinishConnecting();
  // What to watch the fd for while connecting: writability for a TCP connect; a TLS handshake
  // wants whatever the TLS library asks for. Call UpdateConnectingInterest() when it changes.
  virtual uint32_t ConnectingInterest() const { return IOLoop::kWrite; }
  void UpdateConnectingInterest();

  // For handing the fd over to another stream (IOStream::StartTls).
  CloseCallback TakeCloseCallback();
  // Open, not connecting, nothing pending, nothing buffered either way.
  bool idle() const;
  // Leaves the loop and marks the stream closed without closing the fd, failing nothing and
  // scheduling nothing (there must be nothing pending: see idle()).
  void Detach();

  // Must be called by the destructor of every concrete subclass, while CloseFd() still works.
  void CloseForDestruction() { Close(); }

 private:
  enum class ReadKind : uint8_t { kNone, kBytes, kUntil, kRegex, kUntilClose, kInto };

  // What only streaming reads, ReadUntilRegex and ReadInto use, out of line (made on first use,
  // then kept): every idle connection's pending read would carry it otherwise.
  struct RareRead {
    std::shared_ptr<StreamingCallback> streaming;  // ReadBytesStreaming, ReadUntilCloseStreaming
    std::shared_ptr<const re2::RE2> regex;
    // Set by ReadUntilRegex (base_io_stream_regex.cc): called, not linked, so that a program
    // without regex reads links no RE2.
    std::optional<size_t> (*match_end)(const re2::RE2& regex, absl::string_view data) = nullptr;
    absl::Span<char> into;
    size_t into_filled = 0;  // kInto: bytes already in `into`
    std::optional<Promise<size_t>> into_promise;
  };

  struct PendingRead {
    ReadKind kind = ReadKind::kNone;
    bool partial = false;
    size_t num_bytes = 0;  // kBytes: how many; kInto: buffer size
    std::string delimiter;
    size_t max_bytes = 0;  // 0: no limit
    size_t scan_from = 0;  // kUntil: the buffer holds no match starting before this offset
    std::string direct;        // kBytes: the result, read into from the fd when nothing was
    size_t direct_filled = 0;  // buffered (the first direct_filled bytes are data)
    std::optional<Promise<std::string>> promise;
    // What few reads need (streaming, kRegex, kInto): made on the first such read, kept after.
    std::unique_ptr<RareRead> rare;

    RareRead& Rare() {
      if (rare == nullptr) rare = std::make_unique<RareRead>();
      return *rare;
    }
    bool streaming() const { return rare != nullptr && rare->streaming != nullptr; }
  };

  Future<std::string> ReadBytesImpl(size_t num_bytes, bool partial, ReadCallback&& callback);
  // The callback by reference through every step (null for a read whose future is awaited):
  // by value, each step moved it and destroyed the moved-from one, two indirect calls a line.
  // Inline in both ReadUntils: as a call of its own it cost a line that waits 27 instructions.
  [[gnu::always_inline]] inline Future<std::string> ReadUntilImpl(absl::string_view delimiter,
                                                                  size_t max_bytes,
                                                                  ReadCallback&& callback);
  // Why ReadUntil refuses these arguments. Out of line and cold, as the errors below.
  [[gnu::cold, gnu::noinline]] static absl::Status InvalidReadUntil(absl::string_view delimiter,
                                                                    size_t max_bytes);
  static absl::StatusOr<std::shared_ptr<const re2::RE2>> CompileRegex(absl::string_view pattern);
  // `bytes` in double quotes, escaped as C would: for error messages.
  static std::string Quote(absl::string_view bytes);
  // UnsatisfiableReadError for a delimiter or regex (`what`, quoted `text`) not found or
  // matched (`missed`) within `max_bytes`. Out of line and cold: building the message inside
  // FindMatchInBuffer, which runs once per read, gave it a frame and register saves that cost
  // 25 instructions a read.
  [[gnu::noinline, gnu::cold]] static absl::Status NotWithinMaxBytes(absl::string_view what,
                                                                     absl::string_view text,
                                                                     absl::string_view missed,
                                                                     size_t max_bytes);
  Future<std::string> ReadUntilRegexImpl(absl::StatusOr<std::shared_ptr<const re2::RE2>> regex,
                                         size_t max_bytes, ReadCallback&& callback);
  Future<std::string> ReadUntilCloseImpl(std::shared_ptr<StreamingCallback> streaming_callback,
                                         ReadCallback&& callback);
  Future<size_t> ReadIntoImpl(absl::Span<char> buffer, bool partial, ReadIntoCallback callback);
  // Every read starts in three steps, so that read_ is filled in place (this is once per line):
  // CheckCanRead says why the read cannot start (`invalid`, if not OK: bad arguments; else a
  // read is pending already), RefuseRead then makes the failed future; otherwise the caller
  // sets read_'s fields for its kind and StartRead makes the future, attaches `callback` (if
  // any) and starts the read.
  absl::Status CheckCanRead(absl::Status invalid) const;
  Future<std::string> RefuseRead(absl::Status refused, ReadCallback&& callback);
  Future<std::string> StartRead(ReadCallback&& callback);
  // Ends the pending read: read_ is empty again, and its promises are handed back.
  void EndRead(std::optional<Promise<std::string>>& promise,
               std::optional<Promise<size_t>>& into_promise);
  void EndRareRead(std::optional<Promise<size_t>>& into_promise);
  // Settles an ended read through its promise or, if it has none (it was settled inside
  // StartRead), into *inline_result_.
  void ResolveRead(std::optional<Promise<std::string>>& promise,
                   absl::StatusOr<std::string>&& result);
  void TryInlineRead();
  // Whether this stream may still finish a read inside the call that started it in this
  // iteration (fairness; see kMaxInlineReadsPerIteration); counts nothing.
  bool InlineBudgetLeft();
  // The pending read cannot finish before the fd has more: readies the stream to wait.
  void WaitForFd();
  // Makes the pending read wait for the loop's next iteration (fairness, or input the poller
  // cannot see); until then, readiness of the fd is left alone.
  void DeferRead();
  // Whether input is there that the poller will not report: decrypted bytes in a TLS library,
  // or what a read pass of this iteration left on the fd (it stopped at its chunk limit without
  // draining it), which an edge-triggered poller reports only once more arrives.
  bool InputLeftUnread() const {
    return HasReadableInput() || (!fd_drained_ && drained_iteration_ == loop_.iteration());
  }
  // The poller registration's edge-triggered bit, for a stream whose short reads drain its fd.
  uint32_t EdgeTriggered() const { return ReadsDrainTheFd() ? IOLoop::kEdgeTriggered : 0; }
  // Reads from the fd as much as the pending read needs (Tornado: _read_to_buffer_loop).
  void ReadToBufferLoop();
  // One read system call; false if it read nothing (would block, end of stream, or error).
  bool ReadToBuffer();
  // The ways a read or write closes the stream on an error, out of line and cold: their
  // messages' temporaries gave the functions that call them large frames and stack checks,
  // which every line paid.
  [[gnu::cold, gnu::noinline]] void CloseOnReadError(absl::Status error);
  [[gnu::cold, gnu::noinline]] void CloseOnFullReadBuffer();
  [[gnu::cold, gnu::noinline]] void CloseOnUnsatisfiableRead(const absl::Status& status);
  [[gnu::cold, gnu::noinline]] void CloseOnWriteError(absl::Status error);
  // How many buffered bytes complete the pending read, nullopt if not enough yet, or
  // UnsatisfiableReadError. Inline but for a delimiter or regex search in a non-empty buffer:
  // a call and a status for nothing cost a request/response stream's next read (before its
  // data) 65 instructions, and a sized read (every echoed message's) 60.
  absl::StatusOr<std::optional<size_t>> FindReadPos() {
    switch (read_.kind) {
      case ReadKind::kNone:
      case ReadKind::kUntilClose:
        return std::nullopt;
      case ReadKind::kBytes:
        if (read_.streaming()) {
          return read_.num_bytes == 0 ? std::optional<size_t>(0) : std::nullopt;
        }
        [[fallthrough]];
      case ReadKind::kInto:
        return SizedReadPos();
      case ReadKind::kUntil:
      case ReadKind::kRegex:
        // Tornado searches only a non-empty buffer: a pattern that matches the empty string
        // waits for data instead of resolving at once, forever, without reading.
        if (read_buffer_.empty()) {
          read_.scan_from = 0;
          return std::nullopt;
        }
        return FindMatchInBuffer();
    }
    return std::nullopt;
  }
  // FindReadPos for a delimiter or regex read, the buffer not empty.
  absl::StatusOr<std::optional<size_t>> FindMatchInBuffer();
  // For a non-streaming ReadBytes or a ReadInto: its size once that much (or, partial, any) is
  // there.
  std::optional<size_t> SizedReadPos() const {
    const size_t available = Available();
    if (available >= read_.num_bytes || (read_.partial && available > 0)) {
      return std::min(read_.num_bytes, available);
    }
    return std::nullopt;
  }
  size_t Available() const {
    return read_buffer_.size() + (read_.kind == ReadKind::kInto ? read_.rare->into_filled : 0) +
           read_.direct_filled;
  }
  void DeliverStreamingData() {
    if (read_.streaming()) DeliverStreamingChunk();  // on every read: inline
  }
  void DeliverStreamingChunk();
  // The peer finished sending (a read returned 0): closes, or first sends what is queued.
  void HandleEndOfStream();
  // Settles the pending read at the end of the stream: with the buffered data if that satisfies
  // it (all of it for ReadUntilClose), else with `closed_error`.
  void SettleReadAtEnd(const absl::Status& closed_error);
  void FinishRead(size_t size);
  void FailRead(const absl::Status& status);
  void ScheduleCloseCallback(CloseCallback callback);
  void CheckIdle();
  // Every read and write from the fd calls it: the stream is not idle.
  void NoteBytesMoved() {
    if (idle_ != nullptr) idle_->moved = true;
  }

  template <typename Append>
  Future<void> QueueWrite(size_t size, Append&& append);
  // QueueWrite past its refusal: one named future returned everywhere, which GCC builds in the
  // caller's slot (a second, unnamed return beside it made a local future and a move).
  template <typename Append>
  Future<void> QueueAcceptedWrite(size_t size, Append& append);
  // The failed future of a write to a closed stream or past max_write_buffer_size. Out of line
  // and cold, so that the error's construction does not weigh on every Write's frame.
  [[gnu::noinline, gnu::cold]] Future<void> RefuseWrite() const;
  // Flushes the writes at the end of the iteration, unless that is scheduled already (inline:
  // every pipelined line's write asks, and a call cost more than the test).
  void ScheduleFlush() {
    if (!flush_scheduled_) RegisterFlush();
  }
  void RegisterFlush();
  void CancelFlush();
  // After a read took its bytes. An emptied buffer gives its block back at once, for the next
  // ready stream's read. Bytes left in a chunk-sized block stay there until the end of the
  // iteration (OnIterationEnd), when they are moved to small storage: the reader usually takes
  // them before then (the rest of a batch of pipelined lines), and moving them at once cost a
  // copy, a malloc and a free per batch.
  void TrimReadBuffer() {
    if (read_buffer_.empty()) return read_buffer_.ReleaseIfEmpty();
    if (read_buffer_.MayShrink()) ScheduleFlush();
  }
  // The scheduled flush (IOLoop::CallAtIterationEnd), which also trims the read buffer (a
  // flush with nothing to write sends nothing).
  void OnIterationEnd() final;
  // The unsent writes as the high-water mark counts them.
  size_t WriteBacklog() const { return write_buffer_.size() + WritesWaitedOn() * kWriteOverhead; }
  // Pending writes whose futures somebody waits on (each has a state; see kWriteOverhead).
  size_t WritesWaitedOn() const { return write_progress_ ? write_progress_->watching() : 0; }
  // Holds reads once the backlog passes the high-water mark; releases them (from the loop) once
  // it is down to half of it. (Inline up to the usual answer, a backlog under the mark with
  // reads not held: every Write asks.)
  void UpdateBackpressure() {
    if (write_high_water_mark_ == 0 || (!reads_held_ && WriteBacklog() <= write_high_water_mark_)) {
      return;
    }
    UpdateBackpressureSlow();
  }
  void UpdateBackpressureSlow();
  // Sends what the fd accepts now and resolves the writes that completed; returns the write
  // error, if any (HandleWrite closes the stream with it).
  absl::Status WriteBuffered();
  void HandleWrite();

  // The loop's call when the fd is ready (Tornado: _handle_events).
  void OnFdEvents(int fd, uint32_t events) final;
  void TryFinishAfterEvent();
  bool WatchingForClose() const;
  // Registers the fd for what the stream needs now: read while a read is pending (or, with a
  // close callback, while idle with less than a chunk buffered), write while data is unsent or
  // connecting.
  // With `drop_extra` false, read interest that is no longer needed is kept (see the .cc).
  // Inline when the registration stays read interest alone, as it does twice a line for a
  // request/response stream (after the read's event, and once its answer is out).
  void UpdateInterest(bool drop_extra) {
    if (!drop_extra && interest_ == IOLoop::kRead && !end_of_stream_ && !reads_held_ &&
        !connecting_ && (!writing() || flush_scheduled_) && CrossWaits() == 0) {
      return;
    }
    UpdateInterestSlow(drop_extra);
  }
  void UpdateInterestSlow(bool drop_extra);
  void SetInterest(uint32_t events);

  IOLoop& loop_;
  const size_t max_buffer_size_;
  const size_t read_chunk_size_;
  const size_t max_write_buffer_size_;
  const size_t write_high_water_mark_;

  internal::ReadBuffer read_buffer_;
  PendingRead read_;
  // While StartRead tries a read before making its promise: where a read settled then goes.
  std::optional<absl::StatusOr<std::string>>* inline_result_ = nullptr;
  // The loop iteration that inline_reads_ counts in (fairness; see TryInlineRead).
  uint64_t inline_iteration_ = 0;
  uint32_t flush_slot_ = 0;     // while flush_scheduled_
  bool read_deferred_ = false;  // the pending read waits for the loop (fairness)
  bool reads_held_ = false;     // the unsent writes passed the high-water mark (backpressure)
  // The last ReadFromFd left room in its buffer or found nothing, in loop iteration
  // drained_iteration_: until the next wait, reading the fd again would only get EAGAIN.
  bool fd_drained_ = false;
  // The poller said the peer closed its side (or the fd has an error): a short read no longer
  // means drained, since the end of the stream behind it gets no event of its own.
  bool peer_closed_ = false;
  bool unwanted_event_seen_ = false;  // readiness came with no read pending (see OnFdEvents)
  uint64_t drained_iteration_ = 0;

  internal::WriteBuffer write_buffer_;
  uint64_t total_write_index_ = 0;
  uint64_t total_write_done_index_ = 0;
  // How far the writes have got, for their futures (made on the first write).
  future_internal::ProgressRef write_progress_;

  // Idle timeout (SetIdleTimeout), made only when a timeout is set: most streams never have one.
  struct IdleCheck {
    absl::Duration timeout;
    bool moved = false;  // bytes went through the fd since the timer was armed
    IOLoop::TimeoutHandle timer;
  };
  std::unique_ptr<IdleCheck> idle_;

  absl::Status error_;
  // Out of line: few streams have one, and every idle connection would carry 32 bytes for it.
  std::unique_ptr<CloseCallback> close_callback_;
  // Taken by every callback the stream schedules on the loop, which then checks the stream still
  // exists before touching it.
  internal::Liveness liveness_;

  // The small fields last, so that a subclass's first ones fit in the padding after them.
  int registered_fd_ = -1;  // the fd while it has a handler on the loop
  uint8_t interest_ = 0;    // IOLoop::kRead | kWrite as registered
  bool connecting_ = false;
  // The peer finished sending while writes were unsent: reads are settled as on a close, and the
  // stream closes once the writes are out.
  bool end_of_stream_ = false;
  bool closed_ = false;
  bool handling_events_ = false;  // errors found now are logged (Tornado logs async errors only)
  bool flush_scheduled_ = false;
  int8_t inline_reads_ = 0;  // reads finished inline in inline_iteration_ (at most 64)
};

}  // namespace gust

#endif  // GUST_IOSTREAM_BASE_IO_STREAM_H_
