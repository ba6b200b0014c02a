"""Drives the examples with real clients: Python's socket and ssl modules, and
python3 -m http.server as the server for http_client. Run by examples_test.sh (from the
runfiles directory); prints one line per check and 'N passed, N failed' at the end."""
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

CERTS = "conformance/testcerts"
checks = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    checks["passed" if condition else "failed"] += 1
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else ": " + detail))


def start(binary, *args):
    """Starts an example server on a free port; returns (process, port)."""
    process = subprocess.Popen([binary, "--port=0", *args], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()  # "listening on 127.0.0.1:PORT (backend, N threads)"
    port = int(line.split()[2].rsplit(":", 1)[1])
    return process, port


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def test_echo():
    for threads in ("1", "2"):
        process, port = start("examples/echo_server", "--threads=" + threads)
        try:
            socks = [connect(port) for _ in range(8)]
            for i, sock in enumerate(socks):
                payload = bytes([i]) * 200000
                sock.sendall(payload)
                echoed = read_exactly(sock, len(payload))
                check("echo_server --threads=%s connection %d echoes 200000 bytes" % (threads, i),
                      echoed == payload, "got %d bytes" % len(echoed))
            for sock in socks:
                sock.close()
        finally:
            process.kill()
            process.wait()


def test_line():
    process, port = start("examples/line_server")
    try:
        sock = connect(port)
        sock.sendall(b"one\r\ntwo\r\nthree\r\n")  # pipelined
        got = read_exactly(sock, len(b"one\r\ntwo\r\nthree\r\n"))
        check("line_server answers pipelined lines in order", got == b"one\r\ntwo\r\nthree\r\n", repr(got))
        sock.sendall(b"x" * (70 * 1024))  # no "\r\n" within 64 KiB
        sock.settimeout(10)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        check("line_server closes on a line over 64 KiB", closed)
        sock.close()
    finally:
        process.kill()
        process.wait()


def half_close(port, request):
    """Sends `request` without reading, shuts down the sending side, and reads until the end
    after a pause (the answers back up in the server meanwhile)."""
    sock = connect(port)
    sock.settimeout(60)
    sock.sendall(request)
    sock.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_half_close():
    """A client that sends everything, half-closes and then reads gets every answer."""
    for binary, count in (("examples/line_server", 66), ("examples/line_server", 100000),
                          ("examples/echo_server", 400000)):
        process, port = start(binary)
        try:
            request = b"".join(b"line %d\r\n" % i for i in range(count))
            got = half_close(port, request)
            check("%s answers all %d lines of a half-closed client" % (binary, count),
                  got == request, "got %d of %d bytes" % (len(got), len(request)))
        finally:
            process.kill()
            process.wait()


def test_sigterm():
    """SIGTERM with 100 clients mid-line: the server closes them all and exits 0 within a
    second (under --config=asan, LeakSanitizer would make the exit code non-zero)."""
    tls_args = ("--cert=%s/server.pem" % CERTS, "--key=%s/server.key" % CERTS)
    for binary, args in (("examples/line_server", ()), ("examples/line_server", ("--threads=2",)),
                         ("examples/echo_server", ()), ("examples/chat_server", ()),
                         ("examples/tls_echo_server", tls_args)):
        process, port = start(binary, *args)
        name = binary + (" --threads=2" if "--threads=2" in args else "")
        try:
            socks = [connect(port) for _ in range(100)]
            for sock in socks:
                sock.sendall(b"half a li")
            time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            try:
                code = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - started
            check("%s exits 0 within a second of SIGTERM" % name,
                  code == 0 and took < 1.0, "exit code %r after %.2f s" % (code, took))
            closed = 0
            for sock in socks:
                sock.settimeout(5)
                try:  # whatever the server answered first (an echo, an alert), then the end
                    while sock.recv(65536):
                        pass
                    closed += 1
                except ConnectionResetError:
                    closed += 1
                except socket.timeout:
                    pass
                sock.close()
            check("%s closed its 100 connections" % name, closed == 100, "%d closed" % closed)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def resident_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def flood(sock, payload, seconds):
    """Sends `payload` without ever reading, for at most `seconds`; returns the bytes sent."""
    sent = 0
    deadline = time.monotonic() + seconds
    sock.settimeout(1.0)  # a second without progress: the server has stopped reading
    while sent < len(payload) and time.monotonic() < deadline:
        try:
            sent += sock.send(payload[sent:sent + 65536])
        except (socket.timeout, ssl.SSLWantWriteError):
            break
    return sent


def test_never_reading_client():
    """A client that sends 16 MiB of empty lines (or bytes) and never reads grows the server by
    at most 64 MiB (backpressure is on by default for TCPServer's streams)."""
    payload = b"\r\n" * (8 << 20)
    tls_args = ("--cert=%s/server.pem" % CERTS, "--key=%s/server.key" % CERTS)
    for binary, args in (("examples/line_server", ()), ("examples/echo_server", ()),
                         ("examples/tls_echo_server", tls_args)):
        process, port = start(binary, *args)
        try:
            before = resident_kib(process.pid)
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            raw.connect(("127.0.0.1", port))
            sock = raw
            if args:
                context = ssl.create_default_context(cafile=CERTS + "/ca.pem")
                sock = context.wrap_socket(raw, server_hostname="localhost")
            sent = flood(sock, payload, 8)
            grown = resident_kib(process.pid) - before
            print("     %s: RSS grew by %d KiB after %d bytes" % (binary, grown, sent))
            check("%s grows by at most 64 MiB for a client that never reads" % binary,
                  grown <= 64 * 1024, "grew by %d KiB after %d bytes" % (grown, sent))
            sock.close()
        finally:
            process.kill()
            process.wait()


def test_tls():
    process, port = start("examples/tls_echo_server", "--cert=%s/server.pem" % CERTS,
                          "--key=%s/server.key" % CERTS)
    try:
        context = ssl.create_default_context(cafile=CERTS + "/ca.pem")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"secret line\n")
                got = read_line(sock)
                check("tls_echo_server echoes over verified TLS", got == b"secret line\n", repr(got))
    finally:
        process.kill()
        process.wait()


def test_tls_handshake_timeout():
    """tls_echo_server --handshake_timeout: silent clients are disconnected in time."""
    process, port = start("examples/tls_echo_server", "--cert=%s/server.pem" % CERTS,
                          "--key=%s/server.key" % CERTS, "--handshake_timeout=0.3")
    try:
        socks = [connect(port) for _ in range(50)]
        started = time.monotonic()
        closed = 0
        for sock in socks:
            sock.settimeout(5)
            try:
                closed += sock.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
            sock.close()
        took = time.monotonic() - started
        check("tls_echo_server --handshake_timeout=0.3 drops 50 silent clients within 2 s",
              closed == 50 and took < 2, "%d closed in %.2f s" % (closed, took))
    finally:
        process.kill()
        process.wait()


def test_chat():
    process, port = start("examples/chat_server")
    try:
        alice, bob, carol = connect(port), connect(port), connect(port)
        time.sleep(0.2)
        for sock in (alice, bob, carol):
            sock.setblocking(False)
            try:
                while sock.recv(65536):
                    pass
            except BlockingIOError:
                pass
            sock.setblocking(True)
            sock.settimeout(10)
        alice.sendall(b"hello room\n")
        got_bob, got_carol = read_line(bob), read_line(carol)
        check("chat_server broadcasts to bob", got_bob.endswith(b": hello room\n"), repr(got_bob))
        check("chat_server broadcasts to carol", got_carol.endswith(b": hello room\n"), repr(got_carol))
        carol.close()
        left = read_line(bob)
        check("chat_server announces a client that left", left.endswith(b" left\r\n"), repr(left))
        alice.close()
        bob.close()
    finally:
        process.kill()
        process.wait()


def test_chat_refuses_threads():
    """chat_server's room lives on one loop: --threads=2 is refused, not raced."""
    result = subprocess.run(["examples/chat_server", "--port=0", "--threads=2"],
                            capture_output=True, timeout=30)
    check("chat_server --threads=2 is refused", result.returncode == 2 and
          b"one thread" in result.stderr, "rc=%d stderr=%r" % (result.returncode, result.stderr))


def test_http_client():
    with tempfile.TemporaryDirectory() as root:
        body = b"Hello from python3 -m http.server\n" * 100
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(body)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(port), "--bind",
                                   "127.0.0.1", "--directory", root],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            result = subprocess.run(["examples/http_client", "--host=127.0.0.1",
                                     "--port=%d" % port, "--path=/hello.txt"],
                                    capture_output=True, timeout=60)
            check("http_client fetches the body", result.returncode == 0 and result.stdout == body,
                  "rc=%d stderr=%r" % (result.returncode, result.stderr))
            result = subprocess.run(["examples/http_client", "--host=127.0.0.1",
                                     "--port=%d" % port, "--path=/missing"],
                                    capture_output=True, timeout=60)
            check("http_client reports a 404", result.returncode == 1 and b"404" in result.stderr,
                  repr(result.stderr))
        finally:
            server.kill()
            server.wait()


for test in (test_echo, test_line, test_half_close, test_never_reading_client, test_sigterm,
             test_tls, test_tls_handshake_timeout, test_chat, test_chat_refuses_threads,
             test_http_client):
    try:
        test()
    except Exception as error:  # a hang or crash in one example must not hide the others
        check(test.__name__, False, repr(error))
print("%d passed, %d failed" % (checks["passed"], checks["failed"]))
sys.exit(1 if checks["failed"] else 0)
