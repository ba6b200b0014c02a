#!/usr/bin/env bash
# Runs gust's benchmarks (optimized build, baselines side by side in the same run) and prints
# the markdown tables the README shows:
#   1. the IOLoop benchmark on every backend this platform supports;
#   2. the stream benchmark, with each gust figure next to its baseline and their ratio.
# Extra arguments go to the benchmark binaries (e.g. --benchmark_repetitions=3).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh || exit 1

backends=(poll select)
[ "$(uname -s)" = Linux ] && backends=(epoll "${backends[@]}")
targets=(//iostream:io_stream_benchmark //iostream:ssl_io_stream_benchmark)
for backend in "${backends[@]}"; do targets+=("//iostream:io_loop_benchmark_$backend"); done
bazel build -c opt "${targets[@]}" 2>/dev/null || { echo "build failed" >&2; exit 1; }
bin=$(bazel info -c opt bazel-bin 2>/dev/null)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for backend in "${backends[@]}"; do
  "$bin/iostream/io_loop_benchmark_$backend" --benchmark_format=csv "$@" >"$work/loop_$backend.csv" 2>/dev/null
done
# Google Benchmark's CSV output needs every row to have the same counters: the heap
# measurement (which has its own) runs separately.
"$bin/iostream/io_stream_benchmark" --benchmark_format=csv --benchmark_filter=-IdleStreamHeap "$@" \
  >"$work/stream.csv" 2>/dev/null
"$bin/iostream/io_stream_benchmark" --benchmark_format=csv --benchmark_filter=IdleStreamHeap \
  >"$work/heap.csv" 2>/dev/null

# TLS: gust (from its runfiles, where the test certificates are), then the same machine's
# openssl: s_time full handshakes against s_server (two processes) with the same certificate,
# and the cipher's raw speed on one core (the ceiling for bulk transfer).
(cd "$bin/iostream/ssl_io_stream_benchmark.runfiles/gust" &&
  ../../ssl_io_stream_benchmark --benchmark_format=csv "$@" >"$work/tls.csv" 2>/dev/null)
certs="$bin/iostream/ssl_io_stream_benchmark.runfiles/gust/conformance/testcerts"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$port" -cert "$certs/server.pem" -key "$certs/server.key" \
  -www -quiet >/dev/null 2>&1 &
server=$!
sleep 1
openssl s_time -connect "127.0.0.1:$port" -new -time 5 2>/dev/null | grep "real seconds" >"$work/s_time.txt"
kill "$server" 2>/dev/null
openssl speed -evp aes-128-gcm -bytes 16384 -seconds 2 2>/dev/null | awk '/^AES-128-GCM/ { print $2 }' \
  >"$work/speed.txt"

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
python3 - "$work" "${backends[@]}" <<'PYTHON'
import csv, os, sys

work, backends = sys.argv[1], sys.argv[2:]

def rows(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith('name,') or line.startswith('"BM_')]
    return {row['name']: row for row in csv.DictReader(lines)}

def show(row):
    if row.get('error_occurred') == 'true':
        return 'n/a: ' + row['error_message'].split(';')[0]
    if row.get('items_per_second'):
        return '%.2f M/s' % (float(row['items_per_second']) / 1e6)
    if row.get('bytes_per_second'):
        return '%.0f MiB/s' % (float(row['bytes_per_second']) / 2**20)
    return '%.0f %s' % (float(row['cpu_time']), row['time_unit'])

loops = {b: rows(os.path.join(work, 'loop_%s.csv' % b)) for b in backends}
print('\n| IOLoop benchmark | ' + ' | '.join(backends) + ' |')
print('|---|' + '---|' * len(backends))
for name in loops[backends[0]]:
    print('| %s | %s |' % (name, ' | '.join(show(loops[b][name]) for b in backends)))

stream = rows(os.path.join(work, 'stream.csv'))
stream.update(rows(os.path.join(work, 'heap.csv')))
def rate(name):
    row = stream[name]
    return float(row.get('bytes_per_second') or row.get('items_per_second') or 0)

print('\n| stream benchmark | gust | baseline | baseline is | gust / baseline |')
print('|---|---|---|---|---|')
for name, row in stream.items():
    base = None
    if 'kReadUntil' in name:
        base = name.replace('kReadUntilRegex', 'kReadBytes').replace('kReadUntil', 'kReadBytes')
        what = 'ReadBytes, same pieces'
    elif name.startswith('BM_BulkReadBytes'):
        base, what = name.replace('BulkReadBytes', 'BulkRawSyscalls'), 'raw read/write'
    elif name.startswith('BM_SmallWrites/'):
        base, what = name.replace('SmallWrites', 'SmallWritesRawSyscalls'), 'one write() each'
    if base in stream:
        print('| %s | %s | %s | %s | %.2f |' % (name, show(row), show(stream[base]), what,
                                               rate(name) / rate(base)))
    elif 'heap_bytes_per_stream' in row and row['heap_bytes_per_stream']:
        print('| %s | %.0f bytes of heap per idle stream (read buffer: %s bytes) | | | |' % (
            name, float(row['heap_bytes_per_stream']), row.get('read_buffer_bytes', '?')))
    elif 'Raw' not in name and 'kReadBytes' not in name:
        print('| %s | %s | | | |' % (name, show(row)))

tls = rows(os.path.join(work, 'tls.csv'))
s_time = open(os.path.join(work, 's_time.txt')).read().split()
speed = open(os.path.join(work, 'speed.txt')).read().strip().rstrip('k')
print('\n| TLS (1.3, P-256) | gust | openssl on this machine |')
print('|---|---|---|')
if s_time:
    print('| full handshakes | %s (client and server on one loop, one core) | %.0f/s (`s_time -new` against `s_server`, two processes) |' % (
        '%.0f/s' % float(tls['BM_TlsHandshake']['items_per_second']),
        float(s_time[0]) / float(s_time[3])))
if speed:
    print('| bulk | %s (encrypt and decrypt on one core, 1 MiB writes) | %.0f MiB/s (`speed -evp aes-128-gcm`, encrypt only, no I/O) |' % (
        show(tls['BM_TlsBulk/1048576']), float(speed) * 1000 / 2**20))
PYTHON
