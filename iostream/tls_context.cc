#include "iostream/tls_context.h"

#include <openssl/err.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "iostream/tls_errors.h"

namespace gust {
namespace internal {

std::string TakeSslErrors() {
  std::vector<std::string> errors;
  while (uint32_t error = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(error, text, sizeof(text));
    errors.push_back(text);
  }
  return absl::StrJoin(errors, "; ");
}

}  // namespace internal

namespace {

absl::Status Readable(absl::string_view what, const std::string& path) {
  if (access(path.c_str(), R_OK) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("cannot read ", what, " '", path, "': ", strerror(errno)));
}

absl::Status SslFailure(absl::string_view what, const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad ", what, " '", path, "': ", internal::TakeSslErrors()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(bool server_side,
                                                                     const TlsOptions& options) {
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  if (!SSL_CTX_set_min_proto_version(ctx.get(), options.min_version)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported minimum TLS version 0x", absl::Hex(options.min_version)));
  }

  if (!options.cert_chain_file.empty() || !options.private_key_file.empty()) {
    if (options.cert_chain_file.empty() || options.private_key_file.empty()) {
      return absl::InvalidArgumentError(
          "cert_chain_file and private_key_file must be given together");
    }
    if (absl::Status s = Readable("certificate chain file", options.cert_chain_file); !s.ok()) {
      return s;
    }
    if (absl::Status s = Readable("private key file", options.private_key_file); !s.ok()) {
      return s;
    }
    if (!SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_chain_file.c_str())) {
      return SslFailure("certificate chain file", options.cert_chain_file);
    }
    // BoringSSL checks the key against the certificate as it loads it.
    if (!SSL_CTX_use_PrivateKey_file(ctx.get(), options.private_key_file.c_str(),
                                     SSL_FILETYPE_PEM) ||
        !SSL_CTX_check_private_key(ctx.get())) {
      const std::string errors = internal::TakeSslErrors();
      if (errors.find("KEY_VALUES_MISMATCH") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "private key file '", options.private_key_file,
            "' does not match certificate chain file '", options.cert_chain_file, "': ", errors));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "bad private key file '", options.private_key_file, "': ", errors));
    }
  } else if (server_side) {
    return absl::InvalidArgumentError(
        "a TLS server needs cert_chain_file and private_key_file");
  }

  const TlsOptions::Verify verify = options.verify.value_or(
      server_side ? TlsOptions::Verify::kNone : TlsOptions::Verify::kRequired);
  if (verify != TlsOptions::Verify::kNone) {
    std::string ca_file = options.ca_file;
    if (ca_file.empty() && options.ca_path.empty()) ca_file = kSystemCaFile;
    if (!ca_file.empty()) {
      if (absl::Status s = Readable("CA file", ca_file); !s.ok()) return s;
    }
    if (!SSL_CTX_load_verify_locations(ctx.get(), ca_file.empty() ? nullptr : ca_file.c_str(),
                                       options.ca_path.empty() ? nullptr
                                                               : options.ca_path.c_str())) {
      return SslFailure("CA file or directory", ca_file.empty() ? options.ca_path : ca_file);
    }
    int mode = SSL_VERIFY_PEER;
    if (verify == TlsOptions::Verify::kRequired && server_side) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }

  std::string alpn_wire;
  for (const std::string& protocol : options.alpn_protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("ALPN protocol names must have 1 to 255 bytes: '", protocol, "'"));
    }
    alpn_wire.push_back(static_cast<char>(protocol.size()));
    alpn_wire += protocol;
  }
  if (!alpn_wire.empty() && !server_side &&
      SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const uint8_t*>(alpn_wire.data()),
                              alpn_wire.size()) != 0) {
    return absl::InvalidArgumentError("SSL_CTX_set_alpn_protos failed");
  }

  auto context = std::make_shared<TlsContext>(
      Key(), std::move(ctx), verify != TlsOptions::Verify::kNone && options.check_hostname,
      server_side ? std::move(alpn_wire) : std::string());
  if (server_side && !context->alpn_wire_.empty()) {
    SSL_CTX_set_alpn_select_cb(context->ssl_ctx(), &TlsContext::SelectAlpn,
                               const_cast<TlsContext*>(context.get()));
  }
  return std::shared_ptr<const TlsContext>(std::move(context));
}

std::shared_ptr<const TlsContext> TlsContext::FromSslCtx(SSL_CTX* ssl_ctx, bool check_hostname) {
  SSL_CTX_up_ref(ssl_ctx);
  return std::make_shared<TlsContext>(Key(), bssl::UniquePtr<SSL_CTX>(ssl_ctx), check_hostname,
                                      std::string());
}

int TlsContext::SelectAlpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                           unsigned in_len, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  uint8_t* selected = nullptr;
  // Server preference: the first of our protocols the client offers.
  if (SSL_select_next_proto(&selected, out_len,
                            reinterpret_cast<const uint8_t*>(context->alpn_wire_.data()),
                            context->alpn_wire_.size(), in, in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no overlap: go on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace gust
