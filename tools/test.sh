#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"). Installs what is missing, then:
#   1. bazel test //...                  every conformance test on every backend
#   2. bazel test --config=asan //...    the same under AddressSanitizer + UBSan
#   2b. ThreadSanitizer over the loop, future, TCP, stream and example tests (epoll)
#   2c. tools/fuzz.sh: each libFuzzer target for 20 seconds from its seed corpus
#   3. the consumer workspace (examples/consumer), built and run with the default backend and
#      with --@gust//backends:poller=poll, checking each says the backend it was built with
#   4. an unknown --//backends:poller value must fail the build and list the allowed values
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

passed=0
failed=0
step() {  # step NAME COMMAND...: runs a step and counts it
  local name=$1
  shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok"
  else
    failed=$((failed + 1))
    echo "=== $name: FAILED"
  fi
}

consumer_says_backend() {  # consumer_says_backend EXPECTED [BAZEL FLAGS...]
  local expected=$1
  shift
  local output
  output=$(cd examples/consumer && bazel run "$@" //:hello 2>/dev/null) || return 1
  echo "$output"
  [[ "$output" == *"answer=42 backend=$expected"* ]]
}

bad_poller_value_is_refused() {
  local output
  if output=$(bazel build --//backends:poller=bogus //iostream 2>&1); then
    echo "a bogus poller value built" >&2
    return 1
  fi
  [[ "$output" == *"Allowed values are"* ]] || { echo "$output" >&2; return 1; }
}

step "bazel test //..." bazel test //...
step "bazel test --config=asan //..." bazel test --config=asan //...
step "bazel test --config=tsan (loop, futures, TCP, streams, examples)" \
  bazel test --config=tsan //conformance:future_test_epoll //conformance:io_loop_test_epoll \
  //conformance:tcp_test_epoll //conformance:io_stream_test_epoll \
  //conformance:allocation_test_epoll //examples:examples_test
step "tools/fuzz.sh (20 s per target)" tools/fuzz.sh 20
step "consumer, default backend" consumer_says_backend epoll
step "consumer, --@gust//backends:poller=poll" consumer_says_backend poll --@gust//backends:poller=poll
step "unknown poller value is refused" bad_poller_value_is_refused
(cd examples/consumer && bazel shutdown)

echo "tools/test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
