#include "iostream/base_io_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "iostream/internal/check.h"
#include "iostream/internal/spare_strings.h"
#include "iostream/log.h"
#include "re2/re2.h"

namespace gust {
namespace {

// Fairness bounds: how many reads one stream may finish inside the calls that started them in
// one loop iteration before it makes the next one wait for the loop, and how many chunks one
// pass of reading takes from the fd before letting other fds run.
constexpr int kMaxInlineReadsPerIteration = 64;
static_assert(kMaxInlineReadsPerIteration < 127, "inline_reads_ is an int8_t");
constexpr int kMaxChunksPerPass = 16;
constexpr int kMaxIovecs = 64;

// Find's search from a first-byte match at `at` on: the rest of the needle compared there, then
// the next first byte, and so on.
[[gnu::noinline]] const char* FindFrom(absl::string_view haystack, absl::string_view needle,
                                       const char* at) {
  const char* const last = haystack.data() + haystack.size() - needle.size();  // last start
  for (;;) {
    if (memcmp(at + 1, needle.data() + 1, needle.size() - 1) == 0) return at;
    if (++at > last) return nullptr;
    at = static_cast<const char*>(memchr(at, needle[0], last - at + 1));
    if (at == nullptr) return nullptr;
  }
}

// The first occurrence of `needle` (non-empty) in `haystack`, or null. memchr for its first
// byte, then a compare: glibc's memmem sets up a two-way search on every call, which costs more
// than the search itself when the match is a line away (about 3x, for pipelined lines). Inline
// in its two callers up to the usual case, a delimiter of one or two bytes found at the first
// candidate ("\r\n" compared inline: a call to memcmp for one byte costs more than the search);
// the loop around the calls is out of line, where its state does not widen the callers' frames.
[[gnu::always_inline]] inline const char* Find(absl::string_view haystack,
                                               absl::string_view needle) {
  if (haystack.size() < needle.size()) return nullptr;
  const char* at = static_cast<const char*>(
      memchr(haystack.data(), needle[0], haystack.size() - needle.size() + 1));
  if (at == nullptr) return nullptr;
  if (needle.size() <= 2 && (needle.size() == 1 || at[1] == needle[1])) return at;
  return FindFrom(haystack, needle, at);
}

// Whether `a` and `b` hold the same bytes, compared here: a waiting read compares its delimiter
// with the one it keeps from the last read (the same on every line of a line protocol), and a
// call to memcmp for two bytes cost more than the rest of the comparison.
bool SameBytes(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// A write at least this large, queued when nothing else is, goes to the fd at once (as in
// Tornado) instead of at the end of the iteration: coalescing gains nothing at this size, and
// sending early lets the peer start on it. Smaller writes are gathered into one writev.
constexpr size_t kInlineWriteBytes = 16 * 1024;
// A sized read at least this large, with nothing buffered, is read from the fd straight into
// its result; smaller ones read ahead a chunk, so that small reads do not cost a call each.
constexpr size_t kDirectReadBytes = 4096;

// Tornado's _ERRNO_CONNRESET: a peer that went away is a normal close, not worth a log line.
bool IsQuietError(const absl::Status& status) {
  switch (ErrnoOf(status)) {
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string BaseIOStream::Quote(absl::string_view bytes) {
  return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
}

absl::Status BaseIOStream::NotWithinMaxBytes(absl::string_view what, absl::string_view text,
                                             absl::string_view missed, size_t max_bytes) {
  return UnsatisfiableReadError(
      absl::StrCat(what, " ", Quote(text), " not ", missed, " within ", max_bytes, " bytes"));
}

BaseIOStream::BaseIOStream(const Options& options)
    : loop_(IOLoop::Current()),
      max_buffer_size_(options.max_buffer_size != 0 ? options.max_buffer_size
                                                    : kDefaultMaxBufferSize),
      read_chunk_size_(std::max<size_t>(
          1, std::min(options.read_chunk_size != 0 ? options.read_chunk_size
                                                   : kDefaultReadChunkSize,
                      max_buffer_size_ / 2))),
      max_write_buffer_size_(options.max_write_buffer_size),
      write_high_water_mark_(options.write_high_water_mark) {}

BaseIOStream::~BaseIOStream() {
  GUST_DCHECK(closed_, "a BaseIOStream subclass's destructor must call CloseForDestruction()");
  if (registered_fd_ >= 0) loop_.RemoveHandler(registered_fd_).IgnoreError();
  CancelFlush();
}

// --- Reads -----------------------------------------------------------------------------------

Future<std::string> BaseIOStream::ReadBytes(size_t num_bytes, bool partial) {
  return ReadBytesImpl(num_bytes, partial, nullptr);
}

void BaseIOStream::ReadBytes(size_t num_bytes, bool partial, ReadCallback callback) {
  ReadBytesImpl(num_bytes, partial, std::move(callback));
}

Future<std::string> BaseIOStream::ReadBytesImpl(size_t num_bytes, bool partial,
                                                ReadCallback&& callback) {
  if (absl::Status refused = CheckCanRead(absl::OkStatus()); !refused.ok()) {
    return RefuseRead(std::move(refused), std::move(callback));
  }
  read_.kind = ReadKind::kBytes;
  read_.num_bytes = num_bytes;
  read_.partial = partial;
  return StartRead(std::move(callback));
}

Future<std::string> BaseIOStream::ReadBytesStreaming(size_t num_bytes,
                                                     StreamingCallback streaming_callback) {
  return ReadBytesStreaming(num_bytes, std::move(streaming_callback), nullptr);
}

Future<std::string> BaseIOStream::ReadBytesStreaming(size_t num_bytes,
                                                     StreamingCallback streaming_callback,
                                                     ReadCallback callback) {
  if (absl::Status refused = CheckCanRead(absl::OkStatus()); !refused.ok()) {
    return RefuseRead(std::move(refused), std::move(callback));
  }
  read_.kind = ReadKind::kBytes;
  read_.num_bytes = num_bytes;
  read_.Rare().streaming = std::make_shared<StreamingCallback>(std::move(streaming_callback));
  return StartRead(std::move(callback));
}

Future<std::string> BaseIOStream::ReadUntil(absl::string_view delimiter, size_t max_bytes) {
  // A line the buffer holds already (pipelined lines: 15 reads of 16) is taken at once, without
  // setting up a pending read to settle: a third of the instructions per line. Anything else
  // (no whole line yet, a bad argument, a line past max_bytes, backpressure, a spent fairness
  // budget) takes the general way.
  const absl::string_view buffered = read_buffer_.view();
  if (!reading() && !reads_held_ && !delimiter.empty() && buffered.size() >= delimiter.size() &&
      InlineBudgetLeft()) {
    const char* found = Find(buffered, delimiter);
    const size_t end = found == nullptr ? 0 : found - buffered.data() + delimiter.size();
    if (end != 0 && (max_bytes == 0 || end <= max_bytes)) {
      ++inline_reads_;
      unwanted_event_seen_ = false;
      std::string line = read_buffer_.Take(end);
      TrimReadBuffer();  // as FinishRead does
      return MakeReadyFuture<std::string>(std::move(line));
    }
  }
  return ReadUntilImpl(delimiter, max_bytes, nullptr);
}

void BaseIOStream::ReadUntil(absl::string_view delimiter, size_t max_bytes,
                             ReadCallback callback) {
  ReadUntilImpl(delimiter, max_bytes, std::move(callback));
}

Future<std::string> BaseIOStream::ReadUntilImpl(absl::string_view delimiter, size_t max_bytes,
                                                ReadCallback&& callback) {
  absl::Status invalid;
  if (delimiter.empty() || (max_bytes != 0 && max_bytes < delimiter.size())) [[unlikely]] {
    invalid = InvalidReadUntil(delimiter, max_bytes);
  }
  if (absl::Status refused = CheckCanRead(std::move(invalid)); !refused.ok()) {
    return RefuseRead(std::move(refused), std::move(callback));
  }
  read_.kind = ReadKind::kUntil;
  if (!SameBytes(read_.delimiter, delimiter)) {
    read_.delimiter.assign(delimiter.data(), delimiter.size());
  }
  read_.max_bytes = max_bytes;
  return StartRead(std::move(callback));
}

absl::Status BaseIOStream::InvalidReadUntil(absl::string_view delimiter, size_t max_bytes) {
  if (delimiter.empty()) return absl::InvalidArgumentError("ReadUntil: the delimiter is empty");
  return absl::InvalidArgumentError(absl::StrCat("ReadUntil: max_bytes ", max_bytes,
                                                 " is smaller than the delimiter (",
                                                 delimiter.size(), " bytes)"));
}

Future<std::string> BaseIOStream::ReadUntilClose() { return ReadUntilCloseImpl(nullptr, nullptr); }

void BaseIOStream::ReadUntilClose(ReadCallback callback) {
  ReadUntilCloseImpl(nullptr, std::move(callback));
}

Future<std::string> BaseIOStream::ReadUntilCloseStreaming(StreamingCallback streaming_callback) {
  return ReadUntilCloseStreaming(std::move(streaming_callback), nullptr);
}

Future<std::string> BaseIOStream::ReadUntilCloseStreaming(StreamingCallback streaming_callback,
                                                          ReadCallback callback) {
  return ReadUntilCloseImpl(std::make_shared<StreamingCallback>(std::move(streaming_callback)),
                            std::move(callback));
}

Future<std::string> BaseIOStream::ReadUntilCloseImpl(
    std::shared_ptr<StreamingCallback> streaming_callback, ReadCallback&& callback) {
  if (absl::Status refused = CheckCanRead(absl::OkStatus()); !refused.ok()) {
    return RefuseRead(std::move(refused), std::move(callback));
  }
  read_.kind = ReadKind::kUntilClose;
  if (streaming_callback != nullptr) read_.Rare().streaming = std::move(streaming_callback);
  return StartRead(std::move(callback));
}

Future<size_t> BaseIOStream::ReadInto(absl::Span<char> buffer, bool partial) {
  return ReadIntoImpl(buffer, partial, nullptr);
}

void BaseIOStream::ReadInto(absl::Span<char> buffer, bool partial, ReadIntoCallback callback) {
  ReadIntoImpl(buffer, partial, std::move(callback));
}

Future<size_t> BaseIOStream::ReadIntoImpl(absl::Span<char> buffer, bool partial,
                                          ReadIntoCallback callback) {
  absl::Status refused = CheckCanRead(absl::OkStatus());
  const bool start = refused.ok();
  Future<size_t> future;
  if (start) {
    read_.kind = ReadKind::kInto;
    RareRead& rare = read_.Rare();
    rare.into = buffer;
    read_.num_bytes = buffer.size();
    read_.partial = partial;
    future = rare.into_promise.emplace(loop_.queue_).future();
  } else {
    future = MakeReadyFuture<size_t>(std::move(refused));
  }
  if (callback != nullptr) {
    future.AddDoneCallback(
        [callback = std::move(callback)](const absl::StatusOr<size_t>& result) mutable {
          callback(result);
        });
  }
  if (start) {
    unwanted_event_seen_ = false;
    TryInlineRead();
  }
  return future;
}

absl::Status BaseIOStream::CheckCanRead(absl::Status invalid) const {
  if (invalid.ok() && reading()) {
    return closed_ ? StreamClosedError(error_)
                   : absl::FailedPreconditionError(
                         "Already reading: a stream allows one pending read at a time");
  }
  return invalid;
}

namespace {

void AttachReadCallback(const Future<std::string>& future,
                        BaseIOStream::ReadCallback callback) {
  if (callback == nullptr) return;
  future.AddDoneCallback(
      [callback = std::move(callback)](const absl::StatusOr<std::string>& result) mutable {
        callback(result);
      });
}

}  // namespace

Future<std::string> BaseIOStream::RefuseRead(absl::Status refused, ReadCallback&& callback) {
  Future<std::string> future = MakeReadyFuture<std::string>(std::move(refused));
  AttachReadCallback(future, std::move(callback));
  return future;
}

Future<std::string> BaseIOStream::StartRead(ReadCallback&& callback) {
  unwanted_event_seen_ = false;
  if (callback != nullptr) {
    // The callback is attached before the read starts, so that it is scheduled before the close
    // callback even when the read fails inside this call (and closes the stream).
    Future<std::string> future = read_.promise.emplace(loop_.queue_).future();
    AttachReadCallback(future, std::move(callback));
    TryInlineRead();
    return future;
  }
  // The promise is made only for a read that has to wait: one that the buffer (or the fd, read
  // now) satisfies settles into `settled`, and its future holds the result without allocating
  // (pipelined lines: 15 of 16 reads).
  std::optional<absl::StatusOr<std::string>> settled;
  inline_result_ = &settled;
  TryInlineRead();
  inline_result_ = nullptr;
  if (settled.has_value()) return MakeReadyFuture<std::string>(*std::move(settled));
  GUST_DCHECK(reading(), "a read neither settled nor pending");
  return read_.promise.emplace(loop_.queue_).future();
}

absl::StatusOr<std::optional<size_t>> BaseIOStream::FindMatchInBuffer() {
  const size_t size = read_buffer_.size();
  const absl::string_view data = read_buffer_.view();
  if (read_.kind == ReadKind::kRegex) {
    const std::optional<size_t> end = read_.rare->match_end(*read_.rare->regex, data);
    const size_t extent = end.value_or(size);
    if (read_.max_bytes != 0 && extent > read_.max_bytes) {
      return NotWithinMaxBytes("regex", read_.rare->regex->pattern(), "matched", read_.max_bytes);
    }
    return end;
  }
  const size_t length = read_.delimiter.size();
  std::optional<size_t> end;
  if (read_.scan_from + length <= size) {
    const char* found = Find(data.substr(read_.scan_from), read_.delimiter);
    if (found != nullptr) end = found - data.data() + length;
  }
  if (!end.has_value()) {
    // No match starts before size - length + 1; the next search resumes there.
    read_.scan_from = size >= length ? size - length + 1 : 0;
  }
  const size_t extent = end.value_or(size);
  if (read_.max_bytes != 0 && extent > read_.max_bytes) {
    return NotWithinMaxBytes("delimiter", read_.delimiter, "found", read_.max_bytes);
  }
  return end;
}

bool BaseIOStream::InlineBudgetLeft() {
  if (inline_iteration_ != loop_.iteration()) {
    inline_iteration_ = loop_.iteration();
    inline_reads_ = 0;
  }
  return inline_reads_ < kMaxInlineReadsPerIteration;
}

void BaseIOStream::TryInlineRead() {
  // Fairness: a stream whose reads keep completing inline (from its buffer, or from data that
  // is always waiting on the fd) would otherwise keep its coroutine running forever inside one
  // iteration. Past the budget, the read waits for the loop's next iteration.
  if (!InlineBudgetLeft()) return DeferRead();
  if (reads_held_) {
    // Backpressure: the read waits, without read interest, until the writes drain.
    return UpdateInterest(/*drop_extra=*/true);
  }
  ++inline_reads_;

  DeliverStreamingData();
  absl::StatusOr<std::optional<size_t>> pos = FindReadPos();
  if (pos.ok() && pos->has_value()) return FinishRead(**pos);
  if (pos.ok() && (closed_ || end_of_stream_)) return SettleReadAtEnd(StreamClosedError(error_));
  // An fd that a read found drained in this iteration (after its wait) is not asked again
  // before the next wait: the call would only get EAGAIN, once per answered batch on pipelined
  // lines. From the next iteration on, the fd is read first, as Tornado does.
  const bool drained = fd_drained_ && drained_iteration_ == loop_.iteration();
  if (pos.ok() && !connecting_ && (!drained || HasReadableInput())) {
    ReadToBufferLoop();
    if (!reading()) return;  // the stream closed meanwhile, which settled the read
    DeliverStreamingData();
    pos = FindReadPos();
    if (pos.ok() && pos->has_value()) return FinishRead(**pos);
  }
  if (!pos.ok()) [[unlikely]] {
    CloseOnUnsatisfiableRead(pos.status());
    // On a stream that was closed already, Close() did nothing: fail the read here.
    if (reading()) FailRead(StreamClosedError(pos.status()));
    return;
  }
  --inline_reads_;  // it did not finish inline
  if (InputLeftUnread()) return DeferRead();
  WaitForFd();
}

void BaseIOStream::CloseOnUnsatisfiableRead(const absl::Status& status) {
  internal::LogLine(LogSeverity::kInfo,
                    absl::StrCat("Unsatisfiable read, closing connection: ", status.message()));
  Close(status);
}

void BaseIOStream::WaitForFd() {
  // A partial line keeps a few bytes, not the chunk they came in (see FinishRead).
  read_buffer_.ShrinkToFit();
  // This stream has answered all it could: its answers go out now, one system call as at the
  // end of the iteration, while its buffer is still hot and before other streams' answers pile
  // up in memory beside it.
  if (flush_scheduled_ && !connecting_ && !handling_events_) {
    CancelFlush();  // done here (UpdateInterest below asks for write interest if need be)
    HandleWrite();
  }
  UpdateInterest(/*drop_extra=*/false);
}

void BaseIOStream::DeferRead() {
  if (read_deferred_) return;
  // Until the callback runs, readiness of the fd is left alone (see OnFdEvents): the buffer
  // may satisfy the read, and must be looked at before an end of stream behind it.
  read_deferred_ = true;
  loop_.AddCallback([this, alive = liveness_.Take()] {
    if (!alive.alive()) return;
    read_deferred_ = false;
    if (reading()) TryInlineRead();
  });
}

void BaseIOStream::ReadToBufferLoop() {
  // How far to read ahead: what the pending read needs, else (delimiter reads) up to
  // max_bytes or until the fd would block; when idle, one chunk (Tornado: target_bytes).
  size_t target = 0;
  switch (read_.kind) {
    case ReadKind::kBytes:
    case ReadKind::kInto:
      target = read_.num_bytes;
      break;
    case ReadKind::kUntil:
    case ReadKind::kRegex:
      target = read_.max_bytes;  // 0: until EAGAIN or found
      break;
    case ReadKind::kNone:
      // Idle, watching for a close: read ahead at most one chunk in all.
      target = read_chunk_size_;
      break;
    case ReadKind::kUntilClose:
      break;
  }
  size_t next_regex_check = 0;
  for (int chunks = 0; chunks < kMaxChunksPerPass && !closed_ && !end_of_stream_; ++chunks) {
    if (!ReadToBuffer()) break;
    // A read that did not fill its room found the fd drained: asking again would only get
    // EAGAIN (the poller reports anything that arrives later, edges included).
    if (fd_drained_) break;
    if (target != 0 && Available() >= target) break;
    // A partial read is satisfied by what one read brought (Tornado looks for the read position
    // after the first chunk, too).
    if (read_.partial && Available() > 0) break;
    if (read_.kind == ReadKind::kUntil ||
        (read_.kind == ReadKind::kRegex && read_buffer_.size() >= next_regex_check)) {
      // Delimiter searches resume, so checking after every chunk stays linear; a regex is
      // searched again only after the buffer has doubled (and once more by the caller).
      absl::StatusOr<std::optional<size_t>> pos = FindReadPos();
      if (!pos.ok() || pos->has_value()) break;
      next_regex_check = read_buffer_.size() * 2;
    }
  }
}

bool BaseIOStream::ReadToBuffer() {
  const bool direct = read_.kind == ReadKind::kInto && read_buffer_.empty() &&
                      read_.rare->into_filled < read_.rare->into.size();
  // A sized read with nothing buffered reads into its result string, never past its size, so
  // nothing is left over to buffer. Not a partial one: its size is only an upper bound, and a
  // result string sized for it would be mostly empty (zeroing and then shrinking it cost more
  // than the copy it saves: 4 KiB echoes ran at 0.5x raw epoll).
  const bool direct_bytes = read_.kind == ReadKind::kBytes && !read_.partial &&
                            !read_.streaming() && read_buffer_.empty() &&
                            read_.num_bytes >= kDirectReadBytes &&
                            read_.direct_filled < read_.num_bytes;
  // A partial one fills a spare string instead, when the thread has one (see spare_strings.h):
  // initialized already, it needs no zeroing. What does not fit in it goes to the read buffer
  // in the same call, and FinishRead appends that: the string grows to the size of the bursts
  // that arrive, and the next time holds one without a copy.
  std::string spare;
  size_t wanted = 0;
  if (read_.kind == ReadKind::kBytes && read_.partial && !read_.streaming() &&
      read_buffer_.empty() && read_.direct_filled == 0 && read_.num_bytes >= kDirectReadBytes) {
    wanted = std::min(read_.num_bytes, read_chunk_size_);
    spare = internal::TakeSpareString(internal::kMinSpareSize, 2 * wanted);
  }
  const bool into_spare = !spare.empty();
  absl::Span<char> target;
  absl::Span<char> overflow;
  if (direct) {
    target = read_.rare->into.subspan(read_.rare->into_filled);
  } else if (direct_bytes) {
    // Grown as data arrives (doubling, at least a chunk at a time), never sized for num_bytes
    // up front: a peer that sends nothing must not cost the whole size.
    if (read_.direct.size() == read_.direct_filled) {
      const size_t grown =
          std::max(2 * read_.direct_filled, read_.direct_filled + read_chunk_size_);
      read_.direct.resize(std::min(read_.num_bytes, grown));
    }
    target = absl::MakeSpan(read_.direct).subspan(read_.direct_filled);
  } else if (into_spare) {
    read_.direct = std::move(spare);
    target = absl::MakeSpan(read_.direct).first(std::min(read_.direct.size(), wanted));
    if (target.size() < wanted) {
      overflow = read_buffer_.PrepareAppend(wanted - target.size(), read_chunk_size_)
                     .first(wanted - target.size());
    }
  } else {
    // Whatever room the storage has, up to a chunk, once at least half a chunk is free: a few
    // bytes of a line left over must not make every read move them to a larger block.
    target = read_buffer_.PrepareAppend(std::max<size_t>(1, read_chunk_size_ / 2),
                                        read_chunk_size_);
    target = target.first(std::min(target.size(), read_chunk_size_));
  }
  absl::StatusOr<std::optional<size_t>> result =
      overflow.empty() ? ReadFromFd(target) : ReadFromFdScattered(target, overflow);
  // Drained: the read left room in its buffers, or found nothing (EAGAIN).
  fd_drained_ = result.ok() && (!result->has_value() ||
                                (**result < target.size() + overflow.size() && !peer_closed_));
  drained_iteration_ = loop_.iteration();
  if (into_spare && !(result.ok() && result->has_value() && **result > 0)) {
    internal::KeepSpareString(std::move(read_.direct));  // nothing came: it stays spare
    read_.direct = std::string();
  }
  if (!result.ok()) [[unlikely]] {
    CloseOnReadError(result.status());
    return false;
  }
  if (!result->has_value()) {
    read_buffer_.ReleaseIfEmpty();
    return false;
  }
  const size_t n = **result;
  if (n == 0) {
    HandleEndOfStream();
    return false;
  }
  NoteBytesMoved();
  if (direct) {
    read_.rare->into_filled += n;
  } else if (direct_bytes) {
    read_.direct_filled += n;
  } else if (into_spare) {
    const size_t in_string = std::min(n, target.size());
    read_.direct_filled = in_string;
    read_.direct.resize(in_string);  // shrinks: the string holds exactly what arrived in it
    read_buffer_.CommitAppend(n - in_string);
  } else {
    read_buffer_.CommitAppend(n);
  }
  DeliverStreamingData();
  if (read_buffer_.size() > max_buffer_size_) [[unlikely]] {
    CloseOnFullReadBuffer();
    return false;
  }
  return true;
}

void BaseIOStream::CloseOnReadError(absl::Status error) {
  if (!IsQuietError(error)) {
    if (handling_events_) {
      internal::LogLine(LogSeverity::kWarning, absl::StrCat("error on read: ", error.ToString()));
    }
    // A read until close would otherwise succeed on Close(): an unexpected error fails it.
    if (read_.kind == ReadKind::kUntilClose) FailRead(StreamClosedError(error));
  }
  Close(std::move(error));
}

void BaseIOStream::CloseOnFullReadBuffer() {
  const std::string message =
      absl::StrCat("Reached maximum read buffer size (", max_buffer_size_, " bytes)");
  internal::LogLine(LogSeverity::kError, absl::StrCat(message, " on fd ", fileno()));
  const absl::Status full = StreamBufferFullError(message);
  // Close() would resolve a ReadUntilClose with what fits: fail it instead (no silent
  // truncation); the data stays readable.
  if (read_.kind == ReadKind::kUntilClose) FailRead(StreamClosedError(full));
  Close(full);
}

void BaseIOStream::DeliverStreamingChunk() {
  if (read_buffer_.empty()) return;
  size_t n = read_buffer_.size();
  if (read_.kind == ReadKind::kBytes) {
    n = std::min(n, read_.num_bytes);
    read_.num_bytes -= n;
  }
  if (n == 0) return;
  loop_.AddCallback([callback = read_.rare->streaming, chunk = read_buffer_.Take(n)]() mutable {
    (*callback)(std::move(chunk));
  });
}

void BaseIOStream::HandleEndOfStream() {
  if (connecting_ || write_buffer_.empty()) return Close();
  // The peer has finished sending but may still be reading (a half-close): the answers queued
  // for it go out before the stream closes. Tornado closes at once and drops them.
  end_of_stream_ = true;
  if (reading()) SettleReadAtEnd(StreamClosedError(error_));
}

void BaseIOStream::SettleReadAtEnd(const absl::Status& closed_error) {
  DeliverStreamingData();
  // Tornado: read_until_close at the end gives what is left, possibly nothing.
  if (read_.kind == ReadKind::kUntilClose) return FinishRead(read_buffer_.size());
  absl::StatusOr<std::optional<size_t>> pos = FindReadPos();
  if (pos.ok() && pos->has_value()) return FinishRead(**pos);
  FailRead(closed_error);
}

// read_ is reset field by field rather than replaced: this runs once per read, and moving the
// whole PendingRead in and out cost more than the delimiter search (callgrind, pipelined lines).
// Inline in its callers, the rare kinds' part out of line: a call level here cost 12
// instructions a line at pipeline 1 (GCC saved registers for the rare part first).
[[gnu::always_inline]] inline void BaseIOStream::EndRead(
    std::optional<Promise<std::string>>& promise, std::optional<Promise<size_t>>& into_promise) {
  promise = std::move(read_.promise);
  read_.promise.reset();
  if (read_.rare != nullptr) EndRareRead(into_promise);
  read_.kind = ReadKind::kNone;
  read_.num_bytes = 0;
  read_.partial = false;
  read_.max_bytes = 0;
  read_.scan_from = 0;
  read_.direct_filled = 0;
}

void BaseIOStream::EndRareRead(std::optional<Promise<size_t>>& into_promise) {
  RareRead& rare = *read_.rare;
  into_promise = std::move(rare.into_promise);
  rare.into_promise.reset();
  rare.regex.reset();
  rare.into = absl::Span<char>();
  rare.into_filled = 0;
  rare.streaming.reset();
}

void BaseIOStream::FinishRead(size_t size) {
  std::optional<Promise<std::string>> promise;
  std::optional<Promise<size_t>> into_promise;
  if (read_.kind == ReadKind::kInto) {
    const RareRead& rare = *read_.rare;
    const size_t from_buffer = size - std::min(size, rare.into_filled);
    read_buffer_.TakeInto(from_buffer, rare.into.data() + rare.into_filled);
    EndRead(promise, into_promise);
    into_promise->SetResult(size);
  } else if (read_.direct_filled > 0) {
    // The result starts with what was read into it (nothing was buffered when it began); a
    // partial read's overflow follows in the buffer. (A non-partial one never reads past its
    // size: it is all in the string.)
    std::string result = std::move(read_.direct);
    read_.direct = std::string();
    if (const size_t rest = size - read_.direct_filled; rest > 0) {
      result.append(read_buffer_.view().data(), rest);
      read_buffer_.Consume(rest);
    }
    EndRead(promise, into_promise);
    ResolveRead(promise, std::move(result));
  } else {
    std::string result = read_buffer_.Take(size);
    EndRead(promise, into_promise);
    ResolveRead(promise, std::move(result));
  }
  // While ready streams are dispatched, each reads into a chunk-sized block: giving the block
  // back once its reader has taken all keeps one in use at a time, not one per stream.
  TrimReadBuffer();
}

void BaseIOStream::FailRead(const absl::Status& status) {
  // A non-partial ReadInto that fails gives back the bytes it placed in the caller's buffer:
  // they stay readable, ahead of anything buffered since, so no byte vanishes.
  if (read_.kind == ReadKind::kInto && read_.rare->into_filled > 0) {
    read_buffer_.Prepend(absl::string_view(read_.rare->into.data(), read_.rare->into_filled));
  }
  if (read_.direct_filled > 0) {
    read_buffer_.Prepend(absl::string_view(read_.direct.data(), read_.direct_filled));
    read_.direct = std::string();
  }
  std::optional<Promise<std::string>> promise;
  std::optional<Promise<size_t>> into_promise;
  EndRead(promise, into_promise);
  if (into_promise.has_value()) {
    into_promise->SetResult(status);
  } else {
    ResolveRead(promise, status);
  }
}

void BaseIOStream::ResolveRead(std::optional<Promise<std::string>>& promise,
                               absl::StatusOr<std::string>&& result) {
  if (promise.has_value()) {
    promise->SetResult(std::move(result));
  } else {
    GUST_DCHECK(inline_result_ != nullptr, "a read without a promise outside StartRead");
    inline_result_->emplace(std::move(result));  // StartRead returns it
  }
}

absl::StatusOr<std::optional<size_t>> BaseIOStream::ReadFromFdScattered(absl::Span<char> first,
                                                                        absl::Span<char> second) {
  absl::StatusOr<std::optional<size_t>> read = ReadFromFd(first);
  if (!read.ok() || !read->has_value() || **read < first.size()) return read;
  // `first` is full: more may be waiting. An end of stream, or an error of the transports that
  // use this default (a TLS library's errors persist; a pipe has none to lose), shows again on
  // the next read, after the bytes already read are delivered.
  absl::StatusOr<std::optional<size_t>> more = ReadFromFd(second);
  if (more.ok() && more->has_value()) return std::optional<size_t>(first.size() + **more);
  return read;
}

// --- Writes ----------------------------------------------------------------------------------

// Inline in each Write: a call level there cost 20 instructions per pipelined line.
template <typename Append>
[[gnu::always_inline]] inline Future<void> BaseIOStream::QueueWrite(size_t size, Append&& append) {
  if (closed_ || (max_write_buffer_size_ != 0 &&
                  write_buffer_.size() + size > max_write_buffer_size_)) [[unlikely]] {
    return RefuseWrite();
  }
  return QueueAcceptedWrite(size, append);
}

template <typename Append>
[[gnu::always_inline]] inline Future<void> BaseIOStream::QueueAcceptedWrite(size_t size,
                                                                            Append& append) {
  append();
  total_write_index_ += size;
  // Made by the first write, before which nothing was written: it starts at 0 reached.
  if (!write_progress_) write_progress_ = future_internal::NewProgress();
  // An empty write resolves at the flush after it (as Tornado's resolves in the _handle_write
  // after it), not at once: it needs a state of its own. Any other write's future is its mark.
  Future<void> future = future_internal::MakeProgressFuture(write_progress_, total_write_index_,
                                                            /*next=*/size == 0);
  UpdateBackpressure();
  if (connecting_) return future;
  if (size >= kInlineWriteBytes && write_buffer_.size() == size && !handling_events_) {
    HandleWrite();
    UpdateInterest(/*drop_extra=*/false);
  } else {
    ScheduleFlush();
  }
  return future;
}

Future<void> BaseIOStream::RefuseWrite() const {
  if (closed_) return MakeReadyFuture<void>(StreamClosedError(error_));
  return MakeReadyFuture<void>(StreamBufferFullError(
      absl::StrCat("Reached maximum write buffer size (", max_write_buffer_size_, " bytes)")));
}

Future<void> BaseIOStream::Write(absl::string_view data) {
  return QueueWrite(data.size(), [&] { write_buffer_.Append(data); });
}

Future<void> BaseIOStream::Write(std::string&& data) {
  const size_t size = data.size();
  // With no more input buffered, this is likely the last answer before the stream waits for
  // the fd, and goes out alone (at pipeline 1, every answer does).
  return QueueWrite(size, [&] { write_buffer_.Append(std::move(data), read_buffer_.empty()); });
}

void BaseIOStream::Write(absl::string_view data, WriteCallback callback) {
  Write(data).AddDoneCallback(
      [callback = std::move(callback)](const absl::Status& status) mutable { callback(status); });
}

void BaseIOStream::RegisterFlush() {
  flush_scheduled_ = true;
  flush_slot_ = loop_.CallAtIterationEnd(*this);
}

void BaseIOStream::CancelFlush() {
  if (!flush_scheduled_) return;
  flush_scheduled_ = false;
  loop_.CancelIterationEnd(flush_slot_);
}

void BaseIOStream::OnIterationEnd() {
  flush_scheduled_ = false;  // the loop has cleared the slot
  read_buffer_.ShrinkToFit();  // what a read left in a chunk-sized block (TrimReadBuffer)
  if (closed_ || connecting_) return;
  HandleWrite();
  UpdateInterest(/*drop_extra=*/false);
}

void BaseIOStream::HandleWrite() {
  absl::Status written = WriteBuffered();
  if (!written.ok()) [[unlikely]] {
    CloseOnWriteError(std::move(written));
  } else if (end_of_stream_ && write_buffer_.empty()) {
    Close();  // the last answer to a peer that finished sending is out
  }
}

void BaseIOStream::CloseOnWriteError(absl::Status error) {
  if (!IsQuietError(error)) {
    internal::LogLine(LogSeverity::kWarning,
                      absl::StrCat("Write error on fd ", fileno(), ": ", error.ToString()));
  }
  Close(std::move(error));
}

absl::Status BaseIOStream::WriteBuffered() {
  iovec iov[kMaxIovecs];
  absl::Status status;
  while (!write_buffer_.empty()) {
    const int count = write_buffer_.Peek(iov, kMaxIovecs);
    absl::StatusOr<size_t> written = WriteToFd(absl::MakeConstSpan(iov, count));
    if (!written.ok()) {
      status = written.status();
      break;
    }
    if (*written == 0) break;
    NoteBytesMoved();
    write_buffer_.Advance(*written);
    total_write_done_index_ += *written;
  }
  if (write_progress_) write_progress_->Reach(total_write_done_index_);
  UpdateBackpressure();
  return status;
}

size_t BaseIOStream::buffer_heap_bytes() const {
  return read_buffer_.capacity() + write_buffer_.heap_bytes();
}

void BaseIOStream::UpdateBackpressureSlow() {
  if (!reads_held_) {
    reads_held_ = true;  // UpdateBackpressure found the backlog past the mark
    return;
  }
  if (WriteBacklog() > write_high_water_mark_ / 2) return;
  reads_held_ = false;
  if (reading() && !closed_) DeferRead();  // from the loop: this may run inside a Write()
}

// --- Events and interest ---------------------------------------------------------------------

bool BaseIOStream::WatchingForClose() const {
  // With a close callback, an idle stream keeps reading until a chunk is buffered, so that it
  // sees the end of the stream behind a little unread data (Tornado: _maybe_add_error_listener,
  // which stops at the first byte), but never reads more than one chunk ahead of the reader.
  return close_callback_ != nullptr && !end_of_stream_ && read_buffer_.size() < read_chunk_size_;
}

void BaseIOStream::OnFdEvents(int fd, uint32_t events) {
  if (closed_) return;
  if (events & (IOLoop::kPeerClosed | IOLoop::kError)) peer_closed_ = true;
  handling_events_ = true;
  if (!connecting_) {
    const uint32_t cross = CrossWaits();
    if ((cross & IOLoop::kWrite) && (events & IOLoop::kWrite)) events |= IOLoop::kRead;
    if ((cross & IOLoop::kRead) && (events & IOLoop::kRead)) events |= IOLoop::kWrite;
  }
  bool just_connected = false;
  if (connecting_) {
    HandleConnect();  // finishes connecting (or a handshake step), or closes
    // Data may have arrived with the end of a handshake, or sit decrypted inside the TLS
    // library where the poller cannot see it: look for it now.
    just_connected = !closed_ && !connecting_;
  }
  // Readiness nobody asked for (data while no read is pending, a hang-up on an idle stream)
  // drops the interest it came from, so a level-triggered poller does not spin on it. Read
  // interest that was wanted when the event came stays registered (see UpdateInterest).
  // A read deferred for fairness looks at the fd when its callback runs, after the buffer.
  bool unwanted = false;
  if (!closed_ && !connecting_) {
    const bool wants_data =
        !end_of_stream_ && !reads_held_ && (reading() || WatchingForClose());
    unwanted = (events & (IOLoop::kRead | IOLoop::kError)) && !wants_data;
    // The first unwanted event is forgiven: it is usually data for the next read of a reader
    // whose coroutine resumes in this iteration, and dropping the interest would cost two
    // poller updates. A second one in a row is dropped (an idle stream must not spin).
    if (unwanted && !unwanted_event_seen_) {
      unwanted_event_seen_ = true;
      unwanted = false;
    }
    if (((events & (IOLoop::kRead | IOLoop::kError)) || just_connected) && wants_data &&
        !read_deferred_) {
      if (reading()) {
        TryFinishAfterEvent();
      } else {
        ReadToBufferLoop();  // idle close detection: at most one chunk ahead
      }
    }
    if (!closed_ && (events & (IOLoop::kWrite | IOLoop::kError)) && writing()) HandleWrite();
  }
  handling_events_ = false;
  UpdateInterest(/*drop_extra=*/unwanted);
}

void BaseIOStream::TryFinishAfterEvent() {
  ReadToBufferLoop();
  if (!reading()) return;
  DeliverStreamingData();
  absl::StatusOr<std::optional<size_t>> pos = FindReadPos();
  if (!pos.ok()) [[unlikely]] {
    return CloseOnUnsatisfiableRead(pos.status());
  }
  if (pos->has_value()) return FinishRead(**pos);
  if (InputLeftUnread()) return DeferRead();
  read_buffer_.ShrinkToFit();
}

void BaseIOStream::UpdateInterestSlow(bool drop_extra) {
  if (closed_) return;
  uint32_t desired = 0;
  const bool read_paused = end_of_stream_ || reads_held_;
  const bool wants_data = !read_paused && (reading() || WatchingForClose());
  if (wants_data) desired |= IOLoop::kRead;
  if (connecting_) {
    desired |= ConnectingInterest();
  } else {
    if (writing() && !flush_scheduled_) {
      // A scheduled flush tries the fd anyway; write interest only for what it could not send.
      desired |= IOLoop::kWrite;
    }
    const uint32_t cross = CrossWaits();
    if (wants_data) desired |= cross & IOLoop::kWrite;
    if (writing()) desired |= cross & IOLoop::kRead;
  }
  // Read interest is dropped lazily: a request/response stream usually starts its next read
  // before more data arrives, and keeping the registration saves two poller updates per cycle.
  // Write interest is dropped at once, since a writable socket would report it every time.
  // After the end of stream (or while reads are held) the fd stays readable: level-triggered
  // pollers would spin on it.
  const uint32_t target = (drop_extra || read_paused) ? desired
                                                      : (desired | (interest_ & IOLoop::kRead));
  if (target == interest_) return;
  SetInterest(target);
}

void BaseIOStream::SetInterest(uint32_t events) {
  absl::Status status;
  if (events == 0) {
    if (registered_fd_ >= 0) status = loop_.RemoveHandler(registered_fd_);
    registered_fd_ = -1;
  } else if (registered_fd_ < 0) {
    status = loop_.AddHandler(fileno(), events | EdgeTriggered(),
                              static_cast<internal::FdHandler&>(*this));
    if (status.ok()) registered_fd_ = fileno();
  } else {
    status = loop_.UpdateHandler(registered_fd_, events | EdgeTriggered());
  }
  interest_ = status.ok() ? static_cast<uint8_t>(events) : 0;
  // The loop cannot watch this fd (select past FD_SETSIZE, say): the stream cannot work. Said
  // out loud: otherwise a server on select drops every connection past fd 1023 in silence.
  if (!status.ok() && !closed_) {
    internal::LogLine(LogSeverity::kWarning, absl::StrCat("cannot watch fd ", fileno(),
                                                          ", closing it: ", status.message()));
    Close(status);
  }
}

void BaseIOStream::StartConnecting() {
  connecting_ = true;
  UpdateInterest(/*drop_extra=*/false);
}

void BaseIOStream::UpdateConnectingInterest() { UpdateInterest(/*drop_extra=*/true); }

BaseIOStream::CloseCallback BaseIOStream::TakeCloseCallback() {
  if (close_callback_ == nullptr) return nullptr;
  CloseCallback callback = std::move(*close_callback_);
  close_callback_.reset();
  return callback;
}

BaseIOStream::Options BaseIOStream::options() const {
  Options options;
  options.max_buffer_size = max_buffer_size_;
  options.read_chunk_size = read_chunk_size_;
  options.max_write_buffer_size = max_write_buffer_size_;
  options.write_high_water_mark = write_high_water_mark_;
  return options;
}

bool BaseIOStream::idle() const {
  return !closed_ && !connecting_ && !end_of_stream_ && !reading() && !writing() &&
         read_buffer_.empty();
}

void BaseIOStream::Detach() {
  if (registered_fd_ >= 0) loop_.RemoveHandler(registered_fd_).IgnoreError();
  registered_fd_ = -1;
  interest_ = 0;
  closed_ = true;
}

void BaseIOStream::FinishConnecting() {
  connecting_ = false;
  // Writes queued while connecting, empty ones too: an empty write resolves once the bytes
  // before it are out, and nothing else would settle it.
  if (writing() || WritesWaitedOn() > 0) ScheduleFlush();
}

// --- Close -----------------------------------------------------------------------------------

void BaseIOStream::Close(absl::Status error) {
  if (closed_) return;
  if (!error.ok()) error_ = std::move(error);
  const absl::Status closed_error = StreamClosedError(error_);
  if (reading()) SettleReadAtEnd(closed_error);
  // Writes wait for the end of the iteration to be sent together; a Close() right after a
  // Write() must still send what the fd accepts now, as Tornado's inline write would have.
  if (!connecting_ && !write_buffer_.empty()) WriteBuffered().IgnoreError();
  if (registered_fd_ >= 0) loop_.RemoveHandler(registered_fd_).IgnoreError();
  registered_fd_ = -1;
  interest_ = 0;
  CloseFd();
  closed_ = true;

  if (write_progress_) write_progress_->End(closed_error);
  write_buffer_.Clear();
  reads_held_ = false;  // nothing is unsent any more: reads go on from the buffer
  if (idle_ != nullptr) loop_.RemoveTimeout(idle_->timer);
  idle_.reset();
  FailPendingOperations(closed_error);
  if (close_callback_ != nullptr) ScheduleCloseCallback(TakeCloseCallback());
}

void BaseIOStream::SetIdleTimeout(absl::Duration timeout) {
  if (idle_ != nullptr) loop_.RemoveTimeout(idle_->timer);
  if (closed_ || timeout == absl::InfiniteDuration()) {
    idle_.reset();
    return;
  }
  if (idle_ == nullptr) idle_ = std::make_unique<IdleCheck>();
  idle_->timeout = timeout;
  idle_->moved = false;
  // Cancelled by Close (the destructor closes), so `this` is alive when it runs.
  idle_->timer = loop_.CallLater(timeout, [this] { CheckIdle(); });
}

void BaseIOStream::CheckIdle() {
  if (!idle_->moved) {
    return Close(ErrnoError(
        ETIMEDOUT,
        absl::StrCat("idle for ", absl::FormatDuration(idle_->timeout), " on fd ", fileno())));
  }
  SetIdleTimeout(idle_->timeout);  // moved bytes since: check again one period later
}

void BaseIOStream::ScheduleCloseCallback(CloseCallback callback) {
  // Never after the stream is gone: the callback often captures its owner.
  loop_.AddCallback([alive = liveness_.Take(), callback = std::move(callback)]() mutable {
    if (alive.alive()) callback();
  });
}

void BaseIOStream::SetCloseCallback(CloseCallback callback) {
  if (closed_) {
    if (callback != nullptr) ScheduleCloseCallback(std::move(callback));
    return;
  }
  close_callback_ =
      callback != nullptr ? std::make_unique<CloseCallback>(std::move(callback)) : nullptr;
  UpdateInterest(/*drop_extra=*/false);
}

}  // namespace gust
