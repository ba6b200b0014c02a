#!/usr/bin/env bash
# Installs the Debian packages gust builds and tests with, if any is missing, and any package
# named as an argument (tools/lint.sh asks for npm when there is none).
# Safe to run again: it does nothing when everything is there. Needs root (or sudo) only when
# something has to be installed.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap      # Bazel 4.2.3
  bazel-skylib         # string_flag for --@gust//backends:poller
  g++
  pkg-config           # third_party/debian_absl.bzl reads Abseil's .pc files
  libabsl-dev
  libre2-dev
  liburing-dev         # the io_uring backend
  android-libboringssl-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  openssl              # makes the TLS test certificates; s_server/s_client interop peers
  ca-certificates      # the system trust store TLS clients verify against by default
  curl                 # HTTPS interop peer
  python3-tornado      # the reference implementation, as an interop peer
  clang                # tools/fuzz.sh: libFuzzer targets
  libclang-rt-14-dev   # libFuzzer's runtime
  "$@"
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install_deps: installing ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: run as root to install ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >/dev/null
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
