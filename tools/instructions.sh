#!/usr/bin/env bash
# Server instructions per operation under callgrind: gust's example servers beside the peer
# harness's hand-written epoll server, on the harness's scenarios (load generator on CPU 1).
# On this kind of shared machine wall-clock figures drift by tens of percent within minutes;
# instruction counts do not, so a change to the hot path is measured here first. gust's count is
# its loop's own (IOLoop::Start and all below it, start-up excluded); the raw server's is its
# whole run. Churn's operation is a cycle (connect, one line and its answer, close), CHURN_COUNT
# of them [2000].
#   tools/instructions.sh                        # this checkout (epoll) against raw epoll
#   BASE=c3be846 tools/instructions.sh           # and that revision, built beside it
#   SCENARIOS="lines-100c-p16" DURATION=5 POLLER=poll tools/instructions.sh
# A benchmark, not a test: the test command does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools/install_deps.sh valgrind make
peers_src=${PEERS_DIR:-$root/../shared/peers}
[[ -f $peers_src/src/loadgen.cpp ]] || { echo "instructions.sh: no peer harness at $peers_src (set PEERS_DIR)" >&2; exit 2; }
poller=${POLLER:-epoll}
duration=${DURATION:-3}
work=$root/build/instructions
# The harness's copy that tools/peers.sh makes too (its load generator and raw server).
harness=$root/build/peers
mkdir -p "$work"
source tools/peer_harness.sh
copy_peer_harness "$peers_src" "$harness"
make -s -C "$harness" build/loadgen build/raw_epoll_server
loadgen=$harness/build/loadgen

# gust's servers of a source tree, built with -c opt (the base revision in an output base of its
# own, which keeps this checkout's build cache).
build_gust() {  # source dir, destination dir, [bazel startup options]
  local src=$1 dest=$2
  shift 2
  (cd "$src" && bazel "$@" build -c opt --//backends:poller="$poller" \
    //examples:echo_server //examples:line_server)
  mkdir -p "$dest"
  cp -f "$src/bazel-bin/examples/echo_server" "$src/bazel-bin/examples/line_server" "$dest/"
}
build_gust "$root" "$work/current"
if [[ -n ${BASE:-} ]]; then
  rm -rf "$work/base-src"
  mkdir -p "$work/base-src"
  git archive "$BASE" | tar -x -C "$work/base-src"
  build_gust "$work/base-src" "$work/base" --output_base="$work/bazel-base"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the instructions per operation of one server on one scenario.
count() {  # kind (raw|gust), binary, mode, connections, in flight, size
  local kind=$1 binary=$2 mode=$3 conns=$4 pipe=$5 size=$6 port out pid ops total
  port=$((20000 + RANDOM % 20000))
  while port_open "$port"; do port=$((port + 1)); done
  out=$work/callgrind.out
  local server_mode=$mode
  [[ $mode == churn ]] && server_mode=lines  # a churn cycle sends one line
  local -a cmd=("$binary" "--port=$port")
  [[ $kind == raw ]] && cmd=("$binary" "$port" "$server_mode")
  local -a load=(--mode "$mode" --conns "$conns" --size "$size" --pipeline "$pipe")
  if [[ $mode == churn ]]; then
    load+=(--count "${CHURN_COUNT:-2000}" --duration 300)  # cycles, and a bound on their time
  else
    load+=(--duration "$duration" --warmup 0)
  fi
  valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do port_open "$port" && break; sleep 0.05; done
  ops=$(taskset -c 1 "$loadgen" --port "$port" "${load[@]}" | tr ' ' '\n' |
    sed -n 's/^total_requests=//p')
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  if [[ $kind == raw ]]; then
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  else
    total=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
      awk '/gust::IOLoop::Start\(\)/ {gsub(",", "", $1); print $1; exit}')
  fi
  echo $((total / ops))
}

# The harness's scenarios (name|mode|connections|in flight|size).
mapfile -t scenarios < <(peer_scenarios "$harness" | grep -E '^[^|]*\|(echo|lines|churn)\|')
echo "Server instructions per operation (callgrind; gust on $poller: its loop's own)"
echo
if [[ -n ${BASE:-} ]]; then
  echo "| scenario | raw epoll | gust $BASE | gust (this checkout) | this / $BASE | this / raw |"
  echo "|---|---:|---:|---:|---:|---:|"
else
  echo "| scenario | raw epoll | gust (this checkout) | gust / raw |"
  echo "|---|---:|---:|---:|"
fi
for spec in "${scenarios[@]}"; do
  IFS='|' read -r name mode conns pipe size <<<"$spec"
  [[ -z ${SCENARIOS:-} || " $SCENARIOS " == *" $name "* ]] || continue
  server=echo_server
  [[ $mode == lines || $mode == churn ]] && server=line_server
  raw=$(count raw "$harness/build/raw_epoll_server" "$mode" "$conns" "$pipe" "$size")
  current=$(count gust "$work/current/$server" "$mode" "$conns" "$pipe" "$size")
  if [[ -n ${BASE:-} ]]; then
    base=$(count gust "$work/base/$server" "$mode" "$conns" "$pipe" "$size")
    awk -v n="$name" -v r="$raw" -v b="$base" -v c="$current" \
      'BEGIN {printf "| %s | %d | %d | %d | %.3f | %.2f |\n", n, r, b, c, c / b, c / r}'
  else
    awk -v n="$name" -v r="$raw" -v c="$current" \
      'BEGIN {printf "| %s | %d | %d | %.2f |\n", n, r, c, c / r}'
  fi
done
