// tls_echo_server: line_server over TLS (README: "Running the examples" makes a certificate).
//   bazel run //examples:tls_echo_server -- --port=8443 --cert=server.pem --key=server.key
// then: openssl s_client -connect 127.0.0.1:8443 -quiet

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "examples/example_main.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/task.h"

ABSL_FLAG(std::string, cert, "", "PEM certificate chain");
ABSL_FLAG(std::string, key, "", "PEM private key");
ABSL_FLAG(double, handshake_timeout, 10,
          "seconds a client has to finish its TLS handshake before it is disconnected");

namespace {

gust::Task<void> EchoLines(std::unique_ptr<gust::IOStream> stream, gust::SocketAddress peer) {
  // Without it, the first answer waits about 40 ms for Nagle behind the TLS 1.3 session tickets.
  stream->SetNodelay(true);
  absl::StatusOr<gust::SSLIOStream*> handshake =
      co_await gust::AsTls(*stream)->WaitForHandshake();
  if (!handshake.ok()) co_return absl::OkStatus();  // logged by the stream; nothing to do
  for (;;) {
    absl::StatusOr<std::string> line = co_await stream->ReadUntil("\n", 64 * 1024);
    if (!line.ok()) co_return absl::OkStatus();
    stream->Write(*std::move(line));
  }
}

}  // namespace

int main(int argc, char** argv) {
  gust::examples::ParseFlags(argc, argv);
  gust::TlsOptions options;
  options.cert_chain_file = gust::examples::UserPath(absl::GetFlag(FLAGS_cert));
  options.private_key_file = gust::examples::UserPath(absl::GetFlag(FLAGS_key));
  absl::StatusOr<std::shared_ptr<const gust::TlsContext>> context =
      gust::TlsContext::Create(/*server_side=*/true, options);
  if (!context.ok()) {
    std::fprintf(stderr, "%s\n", context.status().ToString().c_str());
    return 1;
  }
  gust::TCPServer::Options server_options;
  server_options.tls = *context;
  server_options.handshake_timeout = absl::Seconds(absl::GetFlag(FLAGS_handshake_timeout));
  return gust::examples::RunParsedServer(EchoLines, server_options);
}
