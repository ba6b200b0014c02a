#!/usr/bin/env bash
# A server links only the libraries it calls. Without TLS it must not load BoringSSL (0.8 MiB
# of resident pages before its first connection): TCPServer reaches TLS only through a
# TlsContext (tls_context.h). Without regex reads it must not link RE2 (about 400 KB of code):
# the stream reaches it only through ReadUntilRegex (base_io_stream_regex.cc).
set -euo pipefail
shared_tls() { readelf -d "$1" | grep -E 'NEEDED.*lib(ssl|crypto)\.so' || true; }
if [[ -z $(shared_tls examples/tls_echo_server) ]]; then
  # BoringSSL linked statically (built from source): there is no NEEDED entry to look for.
  echo "tls_echo_server loads no shared BoringSSL: not checking the others for it"
else
  for server in line_server echo_server chat_server; do
    loaded=$(shared_tls "examples/$server")
    if [[ -n $loaded ]]; then
      echo "FAIL: $server, which makes no TlsContext, loads BoringSSL:" >&2
      echo "$loaded" >&2
      exit 1
    fi
  done
  echo "line_server, echo_server and chat_server load no BoringSSL; tls_echo_server does"
fi
for server in line_server echo_server chat_server tls_echo_server; do
  symbols=$(nm -C "examples/$server")
  # The symbol table is there to be searched (a stripped binary would pass for want of it).
  grep -q 'gust::BaseIOStream::ReadUntil' <<<"$symbols" || {
    echo "FAIL: no symbol table in $server" >&2
    exit 1
  }
  # RE2's own code (strong text symbols), not the inline accessors a header leaves behind.
  if grep -qE ' T re2::' <<<"$symbols"; then
    echo "FAIL: $server, which reads no regex, links RE2:" >&2
    grep -E ' T re2::' <<<"$symbols" | head -5 >&2
    exit 1
  fi
done
echo "PASS: no server links RE2"
