// TlsOptions and TlsContext: how an SSLIOStream authenticates and what it offers; the
// ssl_options of Tornado (a dict, or an ssl.SSLContext), on BoringSSL.
//
// Clients verify the server by default: the certificate chain against the system trust store
// (/etc/ssl/certs/ca-certificates.crt unless `ca_file`/`ca_path` say otherwise) and the host
// name against the certificate. Turning that off takes `verify = kNone` (Tornado:
// cert_reqs=ssl.CERT_NONE). Bad options (a missing file, a key that does not match its
// certificate, an unknown ALPN list) are reported as a status naming the file and the reason.

#ifndef GUST_IOSTREAM_TLS_CONTEXT_H_
#define GUST_IOSTREAM_TLS_CONTEXT_H_

#include "iostream/internal/cxx20.h"  // first: a pre-C++20 build stops here

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "iostream/base_io_stream.h"
#include "iostream/future.h"

namespace gust {

class IOStream;
class SSLIOStream;
class TlsContext;  // below

namespace internal {

// What TCPServer and TCPClient do with a TlsContext, reached through the context rather than
// called: a program that never makes a context (a plain TCP server) then links no BoringSSL.
// Defined in ssl_io_stream.cc.
struct TlsStreamMakers {
  // An accepted connection's server-side stream, its handshake timeout set.
  std::unique_ptr<IOStream> (*accept)(int fd, std::shared_ptr<const TlsContext> context,
                                      const BaseIOStream::Options& options,
                                      absl::Duration handshake_timeout);
  // StartTls.
  Future<std::unique_ptr<SSLIOStream>> (*start_tls)(IOStream& stream, bool server_side,
                                                    std::shared_ptr<const TlsContext> context,
                                                    std::string server_hostname,
                                                    absl::Duration handshake_timeout);
};
extern const TlsStreamMakers kTlsStreamMakers;

}  // namespace internal

struct TlsOptions {
  enum class Verify {
    kNone,      // accept any peer certificate (Tornado: ssl.CERT_NONE)
    kOptional,  // verify one if the peer sends it (ssl.CERT_OPTIONAL)
    kRequired,  // the peer must send a valid certificate (ssl.CERT_REQUIRED)
  };

  // PEM certificate chain (leaf first) and its private key: required for servers, optional
  // client certificates for clients.
  std::string cert_chain_file;
  std::string private_key_file;
  // Trusted CAs. When both are empty, the system store (kSystemCaFile) is used.
  std::string ca_file;
  std::string ca_path;
  // Default: kRequired for clients, kNone (no client certificates) for servers.
  std::optional<Verify> verify;
  // Clients: check the server's certificate names the host (server_hostname, else the host
  // that was connected to). Ignored when verify is kNone.
  bool check_hostname = true;
  // ALPN protocols in order of preference, e.g. {"h2", "http/1.1"}.
  std::vector<std::string> alpn_protocols;
  // TLS1_2_VERSION or TLS1_3_VERSION.
  uint16_t min_version = TLS1_2_VERSION;
};

class TlsContext {
 public:
  static constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";

  // A context for the client or the server side.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(bool server_side,
                                                                  const TlsOptions& options);

  // Wraps a context the caller configured (Tornado: an ssl.SSLContext); takes a reference of
  // its own. `check_hostname` says whether clients check the server's name, as
  // SSLContext.check_hostname does.
  static std::shared_ptr<const TlsContext> FromSslCtx(SSL_CTX* ssl_ctx, bool check_hostname);

  SSL_CTX* ssl_ctx() const { return ssl_ctx_.get(); }
  bool check_hostname() const { return check_hostname_; }
  // For TCPServer and TCPClient.
  const internal::TlsStreamMakers& stream_makers() const { return *stream_makers_; }

  // Only Create and FromSslCtx can make the key this constructor takes (std::make_shared
  // needs a public constructor).
  class Key {
    friend class TlsContext;
    Key() = default;
  };
  TlsContext(Key, bssl::UniquePtr<SSL_CTX> ssl_ctx, bool check_hostname, std::string alpn_wire)
      : ssl_ctx_(std::move(ssl_ctx)),
        check_hostname_(check_hostname),
        alpn_wire_(std::move(alpn_wire)) {}

 private:
  static int SelectAlpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                        unsigned in_len, void* arg);

  bssl::UniquePtr<SSL_CTX> ssl_ctx_;
  bool check_hostname_;
  std::string alpn_wire_;  // the server's ALPN preferences, in wire format
  // Taken here, by the constructor only Create and FromSslCtx call, so that only a program
  // that makes a context links the streams behind it.
  const internal::TlsStreamMakers* stream_makers_ = &internal::kTlsStreamMakers;
};

}  // namespace gust

#endif  // GUST_IOSTREAM_TLS_CONTEXT_H_
