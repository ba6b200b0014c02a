#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"). Installs what is missing, then:
#   1. bazel test //...                  every conformance test on every backend
#   2. bazel test --config=asan //...    the same under AddressSanitizer + UBSan
#   2b. ThreadSanitizer over the loop, future, TCP, stream and example tests (epoll)
#   2c. tools/fuzz.sh: each libFuzzer target for 20 seconds from its seed corpus
#   2d. examples_test on the io_uring backend, plain and under ASan (every conformance target
#       runs on io_uring in steps 1 and 2 already)
#   3. the consumer workspace (examples/consumer), built and run with the default backend,
#      with --@gust//backends:poller=poll and with =io_uring, checking each says its backend
#   4. an unknown --//backends:poller value must fail the build and list the allowed values
#   5. tools/lint.sh (buildifier, MODULE.bazel), the layers (//iostream:streams has no BoringSSL),
#      and a pre-C++20 build stopping with one line
# The last line counts tests: each Bazel test target, each fuzz target and each other check.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() {  # step NAME COMMAND...: runs a step; counts its Bazel test targets, else the step
  local name=$1
  shift
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  local ok=${PIPESTATUS[0]}
  local targets_passed targets_failed
  targets_passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  targets_failed=$(grep -cE '^//[^ ]+ +.*(FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log")
  if [ "$targets_passed" -gt 0 ] || [ "$targets_failed" -gt 0 ]; then
    passed=$((passed + targets_passed))
    failed=$((failed + targets_failed))
    [ "$ok" -eq 0 ] || [ "$targets_failed" -gt 0 ] || failed=$((failed + 1))  # a build error
  elif [ "$ok" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  if [ "$ok" -eq 0 ]; then echo "=== $name: ok"; else echo "=== $name: FAILED"; fi
}

consumer_says_backend() {  # consumer_says_backend EXPECTED [BAZEL FLAGS...]
  local expected=$1
  shift
  local output errors
  errors=$(mktemp)
  if ! output=$(cd examples/consumer && bazel run "$@" //:hello 2>"$errors"); then
    echo "the consumer did not build or run; Bazel said:" >&2
    tail -n 30 "$errors" >&2
    rm -f "$errors"
    return 1
  fi
  rm -f "$errors"
  echo "$output"
  [[ "$output" == *"answer=42 backend=$expected"* ]] || {
    echo "expected 'answer=42 backend=$expected'" >&2
    return 1
  }
}

bad_poller_value_is_refused() {
  local output
  if output=$(bazel build --//backends:poller=bogus //iostream 2>&1); then
    echo "a bogus poller value built" >&2
    return 1
  fi
  [[ "$output" == *"Allowed values are"* ]] || { echo "$output" >&2; return 1; }
}

streams_without_boringssl() {
  local deps
  deps=$(bazel query 'deps(//iostream:streams)' 2>/dev/null) || return 1
  if grep -q '^@boringssl' <<<"$deps"; then
    echo "//iostream:streams depends on BoringSSL:" >&2
    bazel query 'somepath(//iostream:streams, @boringssl//:ssl)' >&2
    return 1
  fi
  echo "no @boringssl in deps(//iostream:streams)"
}

pre_cxx20_build_stops() {
  local output
  output=$(echo '#include "iostream/io_stream.h"' |
    g++ -std=c++17 -I. -isystem /usr/include/android -fsyntax-only -x c++ - 2>&1)
  echo "$output" | grep -E 'error' >&2
  # The first error is gust's #error naming the fix, and the compilation ends there: every
  # error comes from the gate, none from the headers behind it.
  echo "$output" | grep -m1 -E 'error:' | grep -q '#error "gust needs C++20: build with' &&
    ! echo "$output" | grep -E '^[^ ].*error:' | grep -qv 'internal/cxx20.h' 
}

step "bazel test //..." bazel test //...
step "bazel test --config=asan //..." bazel test --config=asan //...
step "bazel test --config=tsan (loop, futures, TCP, streams, examples)" \
  bazel test --config=tsan //conformance:future_test_epoll //conformance:io_loop_test_epoll \
  //conformance:tcp_test_epoll //conformance:io_stream_test_epoll \
  //conformance:allocation_test_epoll //examples:examples_test
step "examples on io_uring" \
  bazel test --//backends:poller=io_uring //examples:examples_test
step "examples on io_uring under ASan" \
  bazel test --config=asan --//backends:poller=io_uring //examples:examples_test
step "tools/fuzz.sh (20 s per target)" tools/fuzz.sh 20
step "consumer, default backend" consumer_says_backend epoll
step "consumer, --@gust//backends:poller=poll" consumer_says_backend poll --@gust//backends:poller=poll
step "consumer, --@gust//backends:poller=io_uring" \
  consumer_says_backend io_uring --@gust//backends:poller=io_uring
step "unknown poller value is refused" bad_poller_value_is_refused
step "tools/lint.sh" tools/lint.sh
step "//iostream:streams does not depend on BoringSSL" streams_without_boringssl
step "a pre-C++20 build stops with one line" pre_cxx20_build_stops
(cd examples/consumer && bazel shutdown)

echo "tools/test.sh: $passed tests passed, $failed failed"
[ "$failed" -eq 0 ]
