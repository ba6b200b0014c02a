# Sourced by tools/peers.sh and tools/instructions.sh: the shared peer harness (../shared/peers,
# or PEERS_DIR) copied into build/peers, so that it builds there and the shared one stays as it
# is, and its scenario table, so that gust's tools follow the harness rather than a copy of it.

# Copies the harness from $1 into $2 (its build/ left out).
copy_peer_harness() {
  mkdir -p "$2"
  (cd "$1" && tar --exclude=./build -cf - .) | (cd "$2" && tar -xf -)
}

# The scenarios of the harness in $1, one "name|mode|connections|in flight|size" line each, in
# its order (its run_peers.sh's ALL_SCENARIOS).
peer_scenarios() {
  sed -n '/^ALL_SCENARIOS=(/,/^)/ s/^ *"\([^|]*|[^|]*|[^|]*|[^|]*|[^|]*\)|.*/\1/p' \
    "$1/run_peers.sh"
}
