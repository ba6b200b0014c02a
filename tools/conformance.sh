#!/usr/bin/env bash
# The main job (README: "Run the conformance suite"): every conformance test against every
# backend this platform supports, then a per-backend summary table. Installs what is missing.
# Extra arguments go to `bazel test` (e.g. --config=asan).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

backends=(poll select)
[ "$(uname -s)" = Linux ] && backends=(epoll "${backends[@]}")

targets=()
for backend in "${backends[@]}"; do
  targets+=($(bazel query "attr(name, '_${backend}\$', tests(//conformance/...))" 2>/dev/null))
done
bazel test --nocache_test_results "$@" "${targets[@]}"
status=$?

testlogs=$(bazel info bazel-testlogs 2>/dev/null)
attr() {  # attr NAME FILE: an attribute of the <testsuites> element of a gtest XML report
  sed -n "s/.*<testsuites [^>]*\\b$1=\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1
}

echo
echo "| backend | test targets | tests | failed | skipped | seconds |"
echo "|---|---|---|---|---|---|"
for backend in "${backends[@]}"; do
  count=0 tests=0 failures=0 skipped=0 seconds=0
  for target in "${targets[@]}"; do
    [[ "$target" == *"_$backend" ]] || continue
    xml="$testlogs/${target#//}"
    xml="${xml/://}/test.xml"
    count=$((count + 1))
    if [ ! -f "$xml" ]; then
      failures=$((failures + 1))  # did not run or did not report
      continue
    fi
    tests=$((tests + $(attr tests "$xml")))
    failures=$((failures + $(attr failures "$xml") + $(attr errors "$xml")))
    skipped=$((skipped + $(grep -c 'result="skipped"' "$xml")))
    seconds=$(awk -v a="$seconds" -v b="$(attr time "$xml")" 'BEGIN { printf "%.2f", a + b }')
  done
  echo "| $backend | $count | $tests | $failures | $skipped | $seconds |"
done
exit $status
