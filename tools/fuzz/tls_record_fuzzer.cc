// libFuzzer target for the TLS record path: a real TLS 1.3 connection over a socketpair, whose
// server side reads its records through a fuzzer-scripted transport (records cut at any byte,
// "would block" answers, and now and then one ciphertext byte flipped), with fuzzer-chosen
// stream options and the read sequence of read_ops.h. The model: the server's reads deliver a
// prefix of what the client sent, each byte once, in order; an uncorrupted connection that the
// client closes delivers all of it; every read resolves. A flipped byte must end the stream
// with an error, never a crash or a wrong byte.
// Built and run by tools/fuzz.sh, which makes the test certificates (GUST_FUZZ_CERTS).

#include <fuzzer/FuzzedDataProvider.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "iostream/internal/spare_strings.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/tls_context.h"
#include "tools/fuzz/read_ops.h"

namespace {

std::string CertPath(const char* name) {
  const char* dir = getenv("GUST_FUZZ_CERTS");
  return absl::StrCat(dir != nullptr ? dir : "build/fuzz/certs", "/", name);
}

std::shared_ptr<const gust::TlsContext> Context(bool server_side) {
  gust::TlsOptions options;
  if (server_side) {
    options.cert_chain_file = CertPath("server.pem");
    options.private_key_file = CertPath("server.key");
  } else {
    options.ca_file = CertPath("ca.pem");
  }
  absl::StatusOr<std::shared_ptr<const gust::TlsContext>> context =
      gust::TlsContext::Create(server_side, options);
  gust_fuzz::Check(context.ok(), "cannot load the test certificates (set GUST_FUZZ_CERTS)");
  return *context;
}

// The server's transport: the socket, read in fuzzer-chosen pieces, with "would block"
// answers (never more than three running) and an optional flipped byte.
class ScriptedTlsStream : public gust::SSLIOStream {
 public:
  ScriptedTlsStream(int fd, std::vector<uint8_t> chunks, size_t flip_at, const Options& options)
      : SSLIOStream(fd, Context(true), /*server_side=*/true, "", options),
        chunks_(std::move(chunks)),
        flip_at_(flip_at) {}
  ~ScriptedTlsStream() override { CloseForDestruction(); }

 protected:
  ssize_t TransportReceive(char* data, size_t size) override {
    const uint8_t step = chunks_.empty() ? 255 : chunks_[next_++ % chunks_.size()];
    if (step % 7 == 0 && ++blocked_ <= 3) {
      errno = EAGAIN;
      return -1;
    }
    blocked_ = 0;
    const ssize_t n = recv(fileno(), data, std::min<size_t>(size, 1 + step * 8), 0);
    if (n > 0) {
      if (flip_at_ >= received_ && flip_at_ < received_ + n) data[flip_at_ - received_] ^= 0x20;
      received_ += n;
    }
    return n;
  }

 private:
  const std::vector<uint8_t> chunks_;
  const size_t flip_at_;
  size_t next_ = 0;
  size_t received_ = 0;
  int blocked_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider input(bytes, size);
  gust_fuzz::Loop();  // made current before any stream is, so the streams run on it
  static const std::shared_ptr<const gust::TlsContext> client_context = Context(false);
  gust::BaseIOStream::Options options;
  options.max_buffer_size = input.ConsumeIntegralInRange<size_t>(0, 40000);
  options.read_chunk_size = input.ConsumeIntegralInRange<size_t>(0, 2000);
  const std::vector<gust_fuzz::ReadOp> ops = gust_fuzz::ConsumeReadOps(input);
  // Where to flip a ciphertext byte (SIZE_MAX: nowhere). The handshake takes the first ~1 KiB.
  const size_t flip_at =
      input.ConsumeBool() ? input.ConsumeIntegralInRange<size_t>(0, 70000) : SIZE_MAX;
  // Large writes make full 16 KiB records, which small read chunks take in many pieces.
  const size_t repeat = input.ConsumeIntegralInRange<size_t>(1, 64);
  std::vector<uint8_t> chunks = input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange(0, 32));
  const std::string piece = input.ConsumeRemainingBytesAsString();
  std::string data;
  for (size_t i = 0; i < repeat && data.size() < 65536; ++i) data += piece;

  gust_fuzz::trace = absl::StrCat("max_buffer_size=", options.max_buffer_size,
                                  " read_chunk_size=", options.read_chunk_size, " flip_at=",
                                  flip_at, " data=", data.size(), " bytes;");
  int fds[2];
  gust_fuzz::Check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0,
                   "socketpair");
  ScriptedTlsStream server(fds[0], std::move(chunks), flip_at, options);
  gust::SSLIOStream client(fds[1], client_context, /*server_side=*/false, "localhost");
  // A flipped byte in a handshake record's length leaves both sides waiting for bytes that
  // never come; as on a real server, the handshake timeout ends it.
  server.SetHandshakeTimeout(absl::Milliseconds(200));
  // The client writes everything and closes (with close_notify) once it is sent; the server's
  // reads run meanwhile, on the same loop.
  // `alive` keeps the callback off a client that this input has destroyed.
  auto alive = std::make_shared<bool>(true);
  client.Write(data).AddDoneCallback([&client, alive](const absl::Status&) {
    if (*alive) client.Close();
  });
  std::string delivered;
  if (gust_fuzz::RunReadOps(server, ops, data, delivered)) {
    gust_fuzz::Check(delivered == data, "a clean end of stream lost bytes");
  }
  *alive = false;
  gust::internal::ReleaseSpareStrings();  // see spare_strings.h
  return 0;
}
