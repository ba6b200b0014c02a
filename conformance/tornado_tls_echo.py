"""A TLS line-echo server written with Tornado (Debian's python3-tornado), for interop tests.

Usage: tornado_tls_echo.py CERT KEY. Prints the port it listens on (127.0.0.1), then echoes
every line of every connection until the client closes.
"""
import ssl
import sys

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.tcpserver import TCPServer


class EchoServer(TCPServer):
    async def handle_stream(self, stream, address):
        try:
            while True:
                line = await stream.read_until(b"\n")
                await stream.write(line)
        except StreamClosedError:
            pass


def main():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    sockets = bind_sockets(0, "127.0.0.1")
    server = EchoServer(ssl_options=context)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
