#!/usr/bin/env bash
# Runs the IOLoop benchmark for every backend this platform supports (optimized build, side by
# side in one run) and prints one markdown table: callbacks/s and timers/s (higher is better),
# and the cost of one loop iteration with N idle fds registered (lower is better).
# Extra arguments go to the benchmark binaries (e.g. --benchmark_repetitions=3).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

backends=(poll select)
[ "$(uname -s)" = Linux ] && backends=(epoll "${backends[@]}")
targets=()
for backend in "${backends[@]}"; do targets+=("//iostream:io_loop_benchmark_$backend"); done
bazel build -c opt "${targets[@]}" 2>/dev/null || { echo "build failed" >&2; exit 1; }
bin=$(bazel info -c opt bazel-bin 2>/dev/null)

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for backend in "${backends[@]}"; do
  "$bin/iostream/io_loop_benchmark_$backend" --benchmark_format=csv "$@" 2>/dev/null |
    awk -F, -v OFS=, -v backend="$backend" '/^"BM_/ { gsub(/"/, ""); print backend, $0 }' >>"$results"
done

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo
header="| benchmark |"
rule="|---|"
for backend in "${backends[@]}"; do header+=" $backend |"; rule+="---|"; done
echo "$header"
echo "$rule"
# csv columns (after the backend): name,iterations,real_time,cpu_time,time_unit,bytes_per_second,
# items_per_second,label,error_occurred,error_message
awk -F, -v order="${backends[*]}" '
  BEGIN { n = split(order, backends, " ") }
  {
    name = $2
    if (!(name in seen)) { seen[name] = 1; names[++count] = name }
    if ($10 == "true") { value = substr($0, index($0, $11)); sub(/;.*/, "", value); value = "n/a: " value }
    else if ($8 != "") value = sprintf("%.2f M/s", $8 / 1e6)
    else value = sprintf("%.0f %s", $4, $6)
    cell[name, $1] = value
  }
  END {
    for (i = 1; i <= count; ++i) {
      line = "| " names[i] " |"
      for (b = 1; b <= n; ++b) line = line " " cell[names[i], backends[b]] " |"
      print line
    }
  }' "$results"
