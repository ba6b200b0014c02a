// TLS costs on loopback: full handshakes per second (client and server on one loop, so one
// core does both sides' work) and bulk throughput, TLS 1.3 with the P-256 test certificate.
// tools/benchmark.sh prints them next to `openssl s_time` and an `openssl s_client` ->
// `s_server` bulk copy on the same machine.
// Run from the runfiles directory (the certificates are data): tools/benchmark.sh does.

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "iostream/io_loop.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/tls_context.h"

namespace gust {
namespace {

std::string Cert(const char* name) { return std::string("conformance/testcerts/") + name; }

struct Contexts {
  std::shared_ptr<const TlsContext> client;
  std::shared_ptr<const TlsContext> server;
};

absl::StatusOr<Contexts> MakeContexts() {
  TlsOptions client;
  client.ca_file = Cert("ca.pem");
  TlsOptions server;
  server.cert_chain_file = Cert("server.pem");
  server.private_key_file = Cert("server.key");
  absl::StatusOr<std::shared_ptr<const TlsContext>> c = TlsContext::Create(false, client);
  if (!c.ok()) return c.status();
  absl::StatusOr<std::shared_ptr<const TlsContext>> s = TlsContext::Create(true, server);
  if (!s.ok()) return s.status();
  return Contexts{*c, *s};
}

struct TlsPair {
  std::unique_ptr<SSLIOStream> client;
  std::unique_ptr<SSLIOStream> server;
};

// A connected socketpair with TLS on both ends; the handshake has not run yet.
TlsPair NewPair(const Contexts& contexts) {
  int fds[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
  const int size = 4 * 1024 * 1024;
  for (int fd : fds) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  return TlsPair{std::make_unique<SSLIOStream>(fds[0], contexts.client, false, "localhost"),
                 std::make_unique<SSLIOStream>(fds[1], contexts.server, true)};
}

void BM_TlsHandshake(benchmark::State& state) {
  std::unique_ptr<IOLoop> loop = *IOLoop::Create();
  loop->MakeCurrent();
  absl::StatusOr<Contexts> contexts = MakeContexts();
  if (!contexts.ok()) return state.SkipWithError(contexts.status().ToString().c_str());
  for (auto _ : state) {
    TlsPair pair = NewPair(*contexts);
    Future<SSLIOStream*> server = pair.server->WaitForHandshake();
    if (!loop->RunSync([&] { return pair.client->WaitForHandshake(); }).ok() ||
        !loop->RunSync([&] { return server; }).ok()) {
      return state.SkipWithError("handshake failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlsHandshake)->Unit(benchmark::kMicrosecond);

void BM_TlsBulk(benchmark::State& state) {
  const size_t block = state.range(0);
  std::unique_ptr<IOLoop> loop = *IOLoop::Create();
  loop->MakeCurrent();
  absl::StatusOr<Contexts> contexts = MakeContexts();
  if (!contexts.ok()) return state.SkipWithError(contexts.status().ToString().c_str());
  TlsPair pair = NewPair(*contexts);
  if (!loop->RunSync([&] { return pair.client->WaitForHandshake(); }).ok()) {
    return state.SkipWithError("handshake failed");
  }
  const std::string payload(block, 'b');
  for (auto _ : state) {
    pair.client->Write(payload);
    if (!loop->RunSync([&] { return pair.server->ReadBytes(block); }).ok()) {
      return state.SkipWithError("read failed");
    }
  }
  state.SetBytesProcessed(state.iterations() * block);
}
BENCHMARK(BM_TlsBulk)->Arg(1 << 20);

}  // namespace
}  // namespace gust
