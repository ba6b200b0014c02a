// libFuzzer target for the write side of BaseIOStream and for what it shares with the read side
// (a read's result handed back to Write, whose storage the stream keeps for later reads; the
// write buffer's chunks): fuzzer-chosen stream options, then a sequence of writes of pieces from
// a few bytes to 70 KiB (moved in, copied from a view, with a callback), echoes of lines and of
// partial reads, plain reads, awaited writes and Close, over a transport that takes
// fuzzer-chosen amounts, cut anywhere, and answers "would block". The model: what the transport
// took is what was written, in order, each byte once (a prefix of it once the stream closed); a
// write succeeds if and only if the transport took all of its bytes, and every write resolves;
// a refused write (past max_write_buffer_size, or to a closed stream) sends nothing.
// Built and run by tools/fuzz.sh (clang's libFuzzer; Bazel here builds with gcc).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "iostream/base_io_stream.h"
#include "iostream/errors.h"
#include "iostream/future.h"
#include "iostream/internal/spare_strings.h"
#include "tools/fuzz/read_ops.h"
#include "tools/fuzz/scripted_stream.h"

namespace {

using gust_fuzz::Check;

const absl::Duration kLimit = absl::Seconds(5);

// Bytes that tell where in the written stream they belong: a piece lost, sent twice or out of
// order shows.
std::string Piece(size_t offset, size_t size) {
  std::string piece(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    piece[i] = static_cast<char>(((offset + i) * 0x9E3779B1u) >> 24);
  }
  return piece;
}

// A write the model tracks: where its bytes end in the written stream, and how it ended (for
// a write with a callback, the future of a promise that the callback resolves).
struct TrackedWrite {
  size_t end;
  gust::Future<void> future;
};

// One turn of the loop: the callbacks queued so far run.
void Turn() {
  gust::Promise<void> turned;
  gust::Future<void> future = turned.future();
  gust_fuzz::Loop().AddCallback([&turned] { turned.SetResult(absl::OkStatus()); });
  Check(gust_fuzz::Loop().RunSync([&] { return future; }, kLimit).ok(), "a loop turn never ended");
}

class Model {
 public:
  explicit Model(gust_fuzz::ScriptedStream& stream) : stream_(stream) {}

  // Writes `data` the way `how` says (0: moved in, 1: from a view of a string gone right after,
  // 2: with a callback) and tracks it.
  void Write(std::string data, int how) {
    absl::StrAppend(&gust_fuzz::trace, " write", how, "(", data.size(), ")");
    TrackedWrite write{expected_.size() + data.size(), {}};
    closed_before_ = stream_.closed();
    const std::string copy = data;
    if (how == 2) {
      // Dropped without a call, the promise breaks: the write then fails with neither error.
      auto called = std::make_shared<gust::Promise<void>>();
      write.future = called->future();
      stream_.Write(data, [called](absl::Status status) { called->SetResult(status); });
      data.assign(data.size(), '?');  // the stream must have copied it
      Turn();  // a refused write's callback runs at the next turn, with the error
    } else if (how == 1) {
      write.future = stream_.Write(absl::string_view(data));
      data.assign(data.size(), '?');
    } else {
      write.future = stream_.Write(std::move(data));
    }
    // Refused at once, or taken: a refused write sends nothing.
    if (write.future.done() && !write.future.result().ok()) {
      Check(IsRefusal(write.future.result()),
            "a write failed at once with neither a full buffer nor a closed stream");
      return;
    }
    expected_ += copy;
    writes_.push_back(std::move(write));
  }

  // A write refused before it queued anything.
  bool IsRefusal(const absl::Status& status) {
    if (!gust::IsStreamBufferFullError(status) &&
        !(gust::IsStreamClosedError(status) && closed_before_)) {
      return false;
    }
    absl::StrAppend(&gust_fuzz::trace, " [refused]");
    return true;
  }

  // Awaits the last write.
  void AwaitLast() {
    if (writes_.empty()) return;
    const TrackedWrite& last = writes_.back();
    const absl::Status status = gust_fuzz::Loop().RunSync([&] { return last.future; }, kLimit);
    absl::StrAppend(&gust_fuzz::trace, " await ", status.ok() ? "ok" : "failed");
    Check(!absl::IsDeadlineExceeded(status), "an awaited write never resolved");
    if (status.ok()) {
      Check(stream_.sent().size() >= last.end, "a write resolved before all of it was sent");
    }
  }

  // Awaits every write (while the stream is open), then checks what was sent and how each write
  // ended.
  void AwaitAndCheckAll() {
    for (const TrackedWrite& write : writes_) {
      if (stream_.closed()) break;
      Check(!absl::IsDeadlineExceeded(
                gust_fuzz::Loop().RunSync([&] { return write.future; }, kLimit)),
            "a write never resolved");
    }
    const bool closed = stream_.closed();
    const std::string& sent = stream_.sent();
    if (closed) {
      Check(expected_.substr(0, sent.size()) == sent, "sent bytes are not a prefix of the writes");
    } else {
      Check(sent == expected_, "sent bytes are not the writes");
    }
    Turn();
    Turn();
    for (const TrackedWrite& write : writes_) {
      Check(write.future.done(), "a write never resolved");
      const absl::Status& status = write.future.result();
      Check(status.ok() == (sent.size() >= write.end),
            status.ok() ? "a write succeeded but was not all sent"
                        : "a write failed but was all sent");
      if (!status.ok()) Check(gust::IsStreamClosedError(status), "a write failed otherwise");
    }
  }

  size_t written() const { return expected_.size(); }

 private:
  gust_fuzz::ScriptedStream& stream_;
  std::string expected_;
  std::vector<TrackedWrite> writes_;
  bool closed_before_ = false;  // whether the stream was closed when the current write began
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider input(bytes, size);
  gust::IOLoop& loop = gust_fuzz::Loop();
  gust::BaseIOStream::Options options;
  options.max_buffer_size = input.ConsumeIntegralInRange<size_t>(0, 4096);
  options.read_chunk_size = input.ConsumeIntegralInRange<size_t>(0, 2048);
  options.max_write_buffer_size =
      input.ConsumeBool() ? 0 : input.ConsumeIntegralInRange<size_t>(1, 200000);
  options.write_high_water_mark =
      input.ConsumeBool() ? 0 : input.ConsumeIntegralInRange<size_t>(1, 100000);
  struct Op {
    int kind;
    size_t size;
  };
  std::vector<Op> ops(input.ConsumeIntegralInRange<int>(1, 24));
  for (Op& op : ops) {
    op.kind = input.ConsumeIntegralInRange<int>(0, 7);
    switch (input.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        op.size = input.ConsumeIntegralInRange<size_t>(0, 64);
        break;
      case 1:
        op.size = input.ConsumeIntegralInRange<size_t>(65, 5000);
        break;
      default:  // past the sizes that go to the fd at once, and the pooled chunks
        op.size = input.ConsumeIntegralInRange<size_t>(16000, 70000);
        break;
    }
  }
  std::vector<uint8_t> read_steps =
      input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange(0, 16));
  std::vector<uint8_t> write_steps =
      input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange(0, 16));
  const std::string data = input.ConsumeRemainingBytesAsString();

  gust_fuzz::trace = absl::StrCat(
      "max_buffer_size=", options.max_buffer_size, " read_chunk_size=", options.read_chunk_size,
      " max_write_buffer_size=", options.max_write_buffer_size,
      " write_high_water_mark=", options.write_high_water_mark, " data=", data.size(), " bytes;");
  gust_fuzz::ScriptedStream stream(data, std::move(read_steps), std::move(write_steps), options);
  Model model(stream);
  std::string delivered;  // what the reads returned: a prefix of `data`
  for (const Op& op : ops) {
    if (op.kind <= 2) {
      model.Write(Piece(model.written(), op.size), op.kind);
      continue;
    }
    if (op.kind == 6) {
      model.AwaitLast();
      continue;
    }
    if (op.kind == 7) {
      absl::StrAppend(&gust_fuzz::trace, " close");
      stream.Close();
      break;
    }
    // A read: an echoed line (3), an echoed partial read (4), a read kept (5).
    absl::StatusOr<std::string> got = loop.RunSync(
        [&] {
          return op.kind == 3 ? stream.ReadUntil("\n", op.size)
                              : stream.ReadBytes(op.size, /*partial=*/op.kind == 4);
        },
        kLimit);
    absl::StrAppend(&gust_fuzz::trace, " read", op.kind, "(", op.size, ")",
                    got.ok() ? absl::StrCat(" ", got->size()) : " failed");
    Check(!absl::IsDeadlineExceeded(got.status()), "a read never resolved");
    if (!got.ok()) continue;
    delivered += *got;
    Check(data.substr(0, delivered.size()) == delivered,
          "delivered bytes are not a prefix of the data");
    if (op.kind != 5) model.Write(*std::move(got), 0);
  }
  model.AwaitAndCheckAll();
  gust::internal::ReleaseSpareStrings();  // see spare_strings.h
  return 0;
}
