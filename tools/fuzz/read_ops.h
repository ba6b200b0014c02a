// The fuzzers' shared half: a fuzzer-chosen sequence of reads (ReadBytes, ReadUntil,
// ReadUntilRegex, ReadInto, ReadUntilClose, with small limits), run one at a time on a stream,
// each checked against the model that what the reads deliver is always a prefix of what was
// sent and that every read resolves (a hang is a crash).

#ifndef GUST_TOOLS_FUZZ_READ_OPS_H_
#define GUST_TOOLS_FUZZ_READ_OPS_H_

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "iostream/base_io_stream.h"
#include "iostream/io_loop.h"

namespace gust_fuzz {

// What the current input did so far, printed when the model is violated.
inline std::string trace;

inline void Check(bool condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "model violated: %s\nafter: %s\n", what, trace.c_str());
    abort();
  }
}

// The loop every input runs on, made once; call it before making a stream.
inline gust::IOLoop& Loop() {
  static const std::unique_ptr<gust::IOLoop> loop = [] {
    std::unique_ptr<gust::IOLoop> made = *gust::IOLoop::Create();
    made->MakeCurrent();
    return made;
  }();
  return *loop;
}

struct ReadOp {
  int kind;
  size_t n;
  bool partial;
  std::string delimiter;
  size_t max_bytes;
};

inline std::vector<ReadOp> ConsumeReadOps(FuzzedDataProvider& input) {
  static const char* const kPatterns[] = {"a+b", "\n", "x*", "[ab]{2}", "c|dd", "(?:ab)+c"};
  std::vector<ReadOp> ops(input.ConsumeIntegralInRange<int>(1, 12));
  for (ReadOp& op : ops) {
    op.kind = input.ConsumeIntegralInRange<int>(0, 5);
    // Mostly small; sometimes past 4 KiB, where ReadBytes reads straight into its result.
    op.n = input.ConsumeIntegralInRange<size_t>(0, 300);
    if (op.n % 8 == 7) op.n = input.ConsumeIntegralInRange<size_t>(4000, 20000);
    op.partial = input.ConsumeBool();
    op.delimiter = input.ConsumeRandomLengthString(3);
    if (op.kind == 2) op.delimiter = kPatterns[op.n % 6];
    op.max_bytes = input.ConsumeBool() ? 0 : input.ConsumeIntegralInRange<size_t>(1, 300);
  }
  return ops;
}

// Runs `ops` and then a final ReadUntilClose on `stream`, checking the model against `data`,
// the bytes sent. Returns what was delivered and whether the stream ended cleanly.
inline bool RunReadOps(gust::BaseIOStream& stream, const std::vector<ReadOp>& ops,
                       absl::string_view data, std::string& delivered) {
  gust::IOLoop& loop = Loop();
  const absl::Duration kLimit = absl::Seconds(5);
  for (const ReadOp& op : ops) {
    absl::StrAppend(&trace, " op", op.kind, "(n=", op.n, " partial=", op.partial,
                    " delimiter=\"", absl::CHexEscape(op.delimiter), "\" max=", op.max_bytes,
                    ")");
    std::string into(op.n, '\0');
    gust::FutureResult<std::string> got = std::string();
    switch (op.kind) {
      case 0:
        got = loop.RunSync([&] { return stream.ReadBytes(op.n, op.partial); }, kLimit);
        break;
      case 1:
        got = loop.RunSync([&] { return stream.ReadUntil(op.delimiter, op.max_bytes); }, kLimit);
        break;
      case 2:
        got = loop.RunSync([&] { return stream.ReadUntilRegex(op.delimiter, op.max_bytes); },
                           kLimit);
        break;
      case 3: {
        absl::StatusOr<size_t> n = loop.RunSync(
            [&] { return stream.ReadInto(absl::MakeSpan(into), op.partial); }, kLimit);
        Check(!absl::IsDeadlineExceeded(n.status()), "a ReadInto never resolved");
        if (n.ok()) {
          got = into.substr(0, *n);
        } else {
          got = n.status();
        }
        break;
      }
      default:
        got = loop.RunSync([&] { return stream.ReadUntilClose(); }, kLimit);
        break;
    }
    if (!got.ok()) absl::StrAppend(&trace, " [", got.status().ToString(), "]");
    Check(!absl::IsDeadlineExceeded(got.status()), "a read never resolved");
    absl::StrAppend(&trace, got.ok() ? " ok" : " failed");
    if (got.ok()) delivered += *got;
    Check(data.substr(0, delivered.size()) == delivered,
          "delivered bytes are not a prefix of the data");
  }
  absl::StatusOr<std::string> rest = loop.RunSync([&] { return stream.ReadUntilClose(); }, kLimit);
  Check(!absl::IsDeadlineExceeded(rest.status()), "the final ReadUntilClose never resolved");
  if (rest.ok()) delivered += *rest;
  Check(data.substr(0, delivered.size()) == delivered,
        "delivered bytes are not a prefix of the data");
  return rest.ok() && stream.error().ok();
}

}  // namespace gust_fuzz

#endif  // GUST_TOOLS_FUZZ_READ_OPS_H_
