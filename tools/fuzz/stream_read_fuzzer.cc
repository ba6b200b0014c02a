// libFuzzer target for the read side of BaseIOStream: fuzzer-chosen stream options, bytes, chunk
// boundaries and "would block" answers, and a sequence of ReadBytes / ReadUntil /
// ReadUntilRegex / ReadInto / ReadUntilClose calls with small limits. The model: the bytes the
// reads deliver are always a prefix of what was sent, each byte exactly once and in order; a
// stream that ends cleanly delivers all of it; every read resolves (a hang is a crash).
// Built and run by tools/fuzz.sh (clang's libFuzzer; Bazel here builds with gcc).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "iostream/base_io_stream.h"
#include "iostream/internal/spare_strings.h"
#include "tools/fuzz/read_ops.h"
#include "tools/fuzz/scripted_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider input(bytes, size);
  gust_fuzz::Loop();  // made current before any stream is, so the streams run on it
  gust::BaseIOStream::Options options;
  options.max_buffer_size = input.ConsumeIntegralInRange<size_t>(0, 2048);
  options.read_chunk_size = input.ConsumeIntegralInRange<size_t>(0, 256);
  const std::vector<gust_fuzz::ReadOp> ops = gust_fuzz::ConsumeReadOps(input);
  std::vector<uint8_t> chunks = input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange(0, 32));
  const std::string data = input.ConsumeRemainingBytesAsString();

  gust_fuzz::trace = absl::StrCat("max_buffer_size=", options.max_buffer_size,
                                  " read_chunk_size=", options.read_chunk_size,
                                  " data=", data.size(), " bytes;");
  gust_fuzz::ScriptedStream stream(data, std::move(chunks), {}, options);
  std::string delivered;
  if (gust_fuzz::RunReadOps(stream, ops, data, delivered)) {
    gust_fuzz::Check(delivered == data, "a clean end of stream lost bytes");
  }
  gust::internal::ReleaseSpareStrings();  // see spare_strings.h
  return 0;
}
