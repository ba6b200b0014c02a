#!/usr/bin/env bash
# Pipelined line throughput, side by side in one run: the raw epoll baseline server, then
# gust's examples/line_server with 1 and 2 threads, each driven by tools/load/line_load
# (100 connections, 16 lines in flight each, 5 s). Prints a markdown table with ratios.
# Single-threaded servers run on CPU 0 and the load generator on CPU 1 (taskset), so that the
# two do not take turns on one core; the 2-thread run shares both cores with the load.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1
bazel build -c opt //tools/load:all //examples:line_server 2>/dev/null || exit 1
bin=$(bazel info -c opt bazel-bin 2>/dev/null)

run() {  # run NAME CPUS SERVER ARGS...: starts the server on CPUS, loads it, prints lines/s
  local name=$1
  local cpus=$2
  shift 2
  local out
  out=$(mktemp)
  taskset -c "$cpus" "$@" --port=0 >"$out" &
  local server=$!
  for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
  local port
  port=$(sed -n 's/listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out")
  local rate
  rate=$(taskset -c 1 "$bin/tools/load/line_load" --port="$port" --connections=100 --pipeline=16 --seconds=5 |
    sed -n 's/lines_per_second=//p')
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  rm -f "$out"
  echo "$name $rate"
}

results=$(
  run "raw epoll (baseline)" 0 "$bin/tools/load/raw_line_server"
  run "gust line_server, 1 thread" 0 "$bin/examples/line_server" --threads=1
  run "gust line_server, 2 threads" 0,1 "$bin/examples/line_server" --threads=2
)
echo "| server | lines/s | ratio to raw epoll |"
echo "|---|---|---|"
echo "$results" | awk '{ rate = $NF; $NF = ""; if (NR == 1) base = rate;
  printf "| %s| %.2f M | %.2f |\n", $0, rate / 1e6, rate / base }'
