#!/usr/bin/env bash
# The main job (README: "Run the conformance suite"): every conformance test against every
# backend this platform supports, then a per-backend summary table. Installs what is missing.
# Extra arguments go to `bazel test` (e.g. --config=asan).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

backends=(poll select)
[ "$(uname -s)" = Linux ] && backends=(epoll "${backends[@]}" io_uring)

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

# Each skipped test, with its reason (the GTEST_SKIP message), once per backend.
skips() {  # skips FILE: "Suite.Test: reason" per skipped test
  python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as tree
for case in tree.parse(sys.argv[1]).iter("testcase"):
    skipped = case.find("skipped")
    if case.get("result") == "skipped" and skipped is not None:
        reason = skipped.get("message", "").split("\n")[-1]
        print(f"{case.get('classname')}.{case.get('name')}: {reason}")
PY
}

echo
echo "| backend | test targets | tests | failed | skipped | seconds |"
echo "|---|---|---|---|---|---|"
skipped_lines=()
total_tests=0 total_failures=0
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
    while read -r line; do
      [ -n "$line" ] && skipped_lines+=("$backend: $line")
    done < <(skips "$xml")
    seconds=$(awk -v a="$seconds" -v b="$(attr time "$xml")" 'BEGIN { printf "%.2f", a + b }')
  done
  echo "| $backend | $count | $tests | $failures | $skipped | $seconds |"
  total_tests=$((total_tests + tests))
  total_failures=$((total_failures + failures))
done
if [ ${#skipped_lines[@]} -gt 0 ]; then
  echo
  echo "Skipped, each with its reason:"
  printf '  %s\n' "${skipped_lines[@]}"
fi
echo
if [ "$status" -eq 0 ] && [ "$total_failures" -eq 0 ]; then
  echo "conformance: PASS: $total_tests tests on ${#backends[@]} backends (${backends[*]}), ${#skipped_lines[@]} skipped"
else
  echo "conformance: FAIL: $total_failures of $total_tests tests failed (bazel exit $status)"
  [ "$status" -ne 0 ] || status=1
fi
exit $status
