// Pipe-only behaviors (Tornado's TestPipeIOStream): B085, B086, B088. Every read/write behavior
// also runs over pipes in read_write_test.cc.

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "conformance/testing.h"
#include "gtest/gtest.h"
#include "iostream/errors.h"
#include "iostream/pipe_io_stream.h"

namespace gust {
namespace {

class PipeIOStreamTest : public testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    reader_ = std::make_unique<PipeIOStream>(fds[0]);
    writer_ = std::make_unique<PipeIOStream>(fds[1]);
  }
  std::unique_ptr<PipeIOStream> reader_;
  std::unique_ptr<PipeIOStream> writer_;
};

// B085
TEST_F(PipeIOStreamTest, B085_PipeIOStream) {
  writer_->Write("hel");
  writer_->Write("lo world");
  EXPECT_EQ(*Await(reader_->ReadUntil(" ")), "hello ");
  EXPECT_EQ(*Await(reader_->ReadBytes(3)), "wor");
  writer_->Close();
  EXPECT_EQ(*Await(reader_->ReadUntilClose()), "ld");
}

// B086: one write larger than the pipe's capacity is queued and drained.
TEST_F(PipeIOStreamTest, B086_BigWrite) {
  const std::string big(1024 * 1024, 'p');
  Future<void> written = writer_->Write(big);
  absl::StatusOr<std::string> data = Await(reader_->ReadBytes(big.size()));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(*data == big);
  EXPECT_TRUE(Await(written).ok());
}

// B088: the fd is made non-blocking; EBADF on a read ends the stream quietly (the close callback
// runs, ReadUntilClose gets what was buffered); SetNodelay is a no-op.
TEST_F(PipeIOStreamTest, B088_PipeRules) {
  EXPECT_TRUE(fcntl(reader_->fileno(), F_GETFL) & O_NONBLOCK);
  reader_->SetNodelay(true);
  bool closed = false;
  reader_->SetCloseCallback([&] { closed = true; });
  writer_->Write("tail");
  RunUntil([&] { return !reader_->reading() && !writer_->writing(); });
  ASSERT_EQ(*Await(reader_->ReadBytes(2)), "ta");
  // Pull the fd out from under the stream.
  const int fd = reader_->fileno();
  ASSERT_EQ(close(fd), 0);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::string> rest = Await(reader_->ReadUntilClose());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(*rest, "il");
  RunUntil([&] { return closed; });
  EXPECT_TRUE(reader_->error().ok()) << reader_->error();
}

// A writer whose reader is gone fails with EPIPE, without SIGPIPE killing the process.
TEST_F(PipeIOStreamTest, WriteToAPipeWithNoReaderFailsWithEpipe) {
  reader_->Close();
  absl::Status status = Await(writer_->Write("anyone?"));
  EXPECT_TRUE(IsStreamClosedError(status)) << status;
  EXPECT_EQ(ErrnoOf(status), EPIPE) << status;
}

// A write end watching for a close (it has a close callback) that sees its reader go reports a
// broken pipe, not a clean end of stream.
TEST_F(PipeIOStreamTest, AWriteEndWhoseReaderClosesReportsEpipe) {
  bool closed = false;
  writer_->SetCloseCallback([&] { closed = true; });
  reader_.reset();
  RunUntil([&] { return closed; });
  EXPECT_EQ(ErrnoOf(writer_->error()), EPIPE) << writer_->error();
}

}  // namespace
}  // namespace gust
