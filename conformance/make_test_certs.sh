#!/usr/bin/env bash
# Makes the TLS test certificates, fresh at build time (no private key is committed):
#   ca.pem                      the test CA the clients trust
#   server.pem/.key             localhost, 127.0.0.1 and ::1, signed by the CA
#   expired.pem/.key            the same names, signed by the CA, expired
#   wronghost.pem/.key          wrong.example only, signed by the CA
#   selfsigned.pem/.key         localhost, self-signed
#   untrusted.pem/.key          localhost, signed by a CA nobody trusts
# Usage: make_test_certs.sh OUTPUT_DIR
set -euo pipefail
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OPENSSL_CONF=/dev/null  # no system config in a hermetic build

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -subj "/CN=$2" -days 3650 -out "$work/$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # leaf NAME CN SAN CA DAYS
  key "$out/$1.key"
  openssl req -new -key "$out/$1.key" -subj "/CN=$2" -out "$work/$1.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$3" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$4.pem" -CAkey "$work/$4.key" \
    -CAcreateserial -days "$5" -extfile "$work/$1.ext" -out "$out/$1.pem" 2>/dev/null
}

ca ca "gust test CA"
ca other_ca "gust untrusted CA"
cp "$work/ca.pem" "$out/ca.pem"
localhost="DNS:localhost,IP:127.0.0.1,IP:::1"
leaf server localhost "$localhost" ca 3650
leaf expired localhost "$localhost" ca -1
leaf wronghost wrong.example "DNS:wrong.example" ca 3650
leaf untrusted localhost "$localhost" other_ca 3650
key "$out/selfsigned.key"
openssl req -x509 -new -key "$out/selfsigned.key" -subj /CN=localhost -days 3650 \
  -addext "subjectAltName=$localhost" -out "$out/selfsigned.pem"
