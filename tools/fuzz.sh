#!/usr/bin/env bash
# Builds the libFuzzer targets in tools/fuzz/ with clang (Bazel here builds with gcc, which has
# no libFuzzer) and runs each for a while from its checked-in seed corpus.
#   tools/fuzz.sh              # 20 seconds each (the test command runs this)
#   tools/fuzz.sh 3600         # an hour each; new inputs go to build/fuzz/corpus-NAME
# A crash leaves its input in build/fuzz/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
seconds=${1:-20}
out=build/fuzz
mkdir -p "$out"

sources=(
  iostream/base_io_stream.cc iostream/base_io_stream_regex.cc iostream/errors.cc
  iostream/io_loop.cc iostream/io_stream.cc iostream/log.cc
  iostream/ssl_io_stream.cc iostream/socket_address.cc iostream/tls_context.cc
  iostream/internal/callback_queue.cc iostream/internal/check.cc
  iostream/internal/read_buffer.cc iostream/internal/spare_strings.cc iostream/internal/state_pool.cc
  iostream/internal/write_buffer.cc backends/epoll_poller.cc backends/timeout.cc
)
boringssl=/usr/lib/x86_64-linux-gnu/android
libs="$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format absl_time \
  absl_synchronization absl_raw_hash_set absl_hash re2) -L$boringssl -Wl,-rpath,$boringssl -lssl \
  -lcrypto"
# The TLS fuzzer's certificates, made fresh like the tests' (no key is committed).
export GUST_FUZZ_CERTS=$out/certs
mkdir -p "$GUST_FUZZ_CERTS"
[[ -f $GUST_FUZZ_CERTS/server.pem ]] || bash conformance/make_test_certs.sh "$GUST_FUZZ_CERTS"
# -fno-sanitize=function: clang 14 cannot emit that check's prologue for the split parts of
# a coroutine ("Cannot represent a difference across sections").
cxxflags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize=function
  -fno-sanitize-recover=all -I. -isystem /usr/include/android)
# The library once for every target, two compilers at a time.
mkdir -p "$out/obj"
export out
printf '%s\n' "${sources[@]}" | xargs -P 2 -I{} sh -c \
  'clang++ "$@" -c {} -o "$out/obj/$(echo {} | tr / _).o"' _ "${cxxflags[@]}"
objects=()
for source in "${sources[@]}"; do objects+=("$out/obj/$(echo "$source" | tr / _).o"); done
status=0
for target in tools/fuzz/*_fuzzer.cc; do
  name=$(basename "$target" .cc)
  clang++ "${cxxflags[@]}" "$target" "${objects[@]}" $libs -o "$out/$name"
  mkdir -p "$out/corpus-$name"
  echo "=== $name: ${seconds}s from tools/fuzz/corpus/$name"
  if ! "$out/$name" -max_total_time="$seconds" -timeout=10 -artifact_prefix="$out/" \
      "$out/corpus-$name" "tools/fuzz/corpus/$name" 2>"$out/$name.log"; then
    tail -n 40 "$out/$name.log" >&2
    status=1
  else
    grep -E "^(#[0-9]+ +DONE|Done)" "$out/$name.log" | tail -n 1
  fi
done
exit $status
