#!/usr/bin/env bash
# A TCP server without TLS must not load BoringSSL: 0.8 MiB of resident pages before its first
# connection, for code it never calls. TCPServer reaches TLS only through a TlsContext
# (tls_context.h), so nothing pulls the library in until a program makes one.
set -euo pipefail
shared_tls() { readelf -d "$1" | grep -E 'NEEDED.*lib(ssl|crypto)\.so' || true; }
if [[ -z $(shared_tls examples/tls_echo_server) ]]; then
  # BoringSSL linked statically (built from source): there is no NEEDED entry to look for.
  echo "tls_echo_server loads no shared BoringSSL: nothing to tell apart"
  exit 0
fi
for server in line_server echo_server chat_server; do
  loaded=$(shared_tls "examples/$server")
  if [[ -n $loaded ]]; then
    echo "FAIL: $server, which makes no TlsContext, loads BoringSSL:" >&2
    echo "$loaded" >&2
    exit 1
  fi
done
echo "PASS: line_server, echo_server and chat_server load no BoringSSL; tls_echo_server does"
