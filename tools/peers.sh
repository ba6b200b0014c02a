#!/usr/bin/env bash
# gust beside the peers: runs the shared peer harness (../shared/peers: a hand-written epoll
# server, libuv, Boost.Asio, ...) with gust's example servers on every backend, then prints each
# gust backend's throughput and server CPU per operation as ratios to the raw epoll server, and
# draws docs/peers.png (throughput per scenario, relative to raw epoll, peers beside gust).
#   tools/peers.sh                      # raw-epoll libuv-epoll asio-epoll gust-{epoll,poll,select}
#   PEERS="raw-epoll gust-epoll gust-io_uring" tools/peers.sh
#   PEERS="raw-epoll gust-epoll" REPEAT=3 DURATION=5 tools/peers.sh
#   PEERS_DIR=/path/to/peers tools/peers.sh
# Other knobs (SCENARIOS, WARMUP, ...) pass through to run_peers.sh. A benchmark, not a test:
# the test command does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
peers_src=${PEERS_DIR:-$root/../shared/peers}
[[ -x $peers_src/run_peers.sh ]] || { echo "peers.sh: no peer harness at $peers_src (set PEERS_DIR)" >&2; exit 2; }
tools/install_deps.sh make libevent-dev libboost-dev libuv1-dev python3-matplotlib

work=$root/build/peers
source tools/peer_harness.sh
copy_peer_harness "$peers_src" "$work"
for backend in epoll poll select io_uring; do
  bazel build -c opt --//backends:poller=$backend //examples:echo_server //examples:line_server
  mkdir -p "$work/build/gust-$backend"
  cp -f bazel-bin/examples/echo_server bazel-bin/examples/line_server "$work/build/gust-$backend/"
done
sed 's/^#gust-/gust-/' "$work/peers.conf" >"$work/build/peers-gust.conf"
grep -q '^gust-io_uring' "$work/build/peers-gust.conf" ||
  echo 'gust-io_uring ./gust_server.sh @PORT@ @MODE@ io_uring' >>"$work/build/peers-gust.conf"

export PEERS=${PEERS:-raw-epoll libuv-epoll asio-epoll gust-epoll gust-poll gust-select}
export REPEAT=${REPEAT:-1} DURATION=${DURATION:-3} WARMUP=${WARMUP:-0.5}
out=$work/build/results-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
# One scenario at a time: the harness runs every peer of a repetition back to back, so that the
# runs the report pairs (a peer's and raw epoll's of the same repetition) are seconds apart, not
# minutes (this machine's speed drifts by tens of percent within minutes).
for scenario in ${SCENARIOS:-$(peer_scenarios "$work" | cut -d'|' -f1)}; do
  SCENARIOS=$scenario PEERS_FILE=build/peers-gust.conf OUT=$out/$scenario "$work/run_peers.sh" >/dev/null
  cat "$out/$scenario/raw.txt" >>"$out/raw.txt"
done
/usr/bin/python3 tools/peers_report.py "$out/raw.txt" --plot docs/peers.png \
  --title "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "raw runs: $out/raw.txt (each scenario's tables: $out/SCENARIO/report.md)"
