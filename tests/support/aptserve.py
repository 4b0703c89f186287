"""The web server behind tests/support/aptrepo.py: run by Machine inside a test host's network namespace.

    python3 aptserve.py ROOT CERT KEY ADDRESS READY LOG [RELAY]

Serves ROOT/HOST/PATH for a GET or HEAD of https://HOST/PATH on port 443, and of http://HOST:8000/PATH
(the test service's port, tests.support.BASE_URL) on 8000; a request with a query is ROOT/HOST/PATH?QUERY.
The Host header names the site, as one address answers for every name the host's /etc/hosts gives it;
anything else is 404. Each request is a line "HOST PATH STATUS" in LOG. With RELAY (a unix socket that the
test process pipes to Debian's mirror, tests/support/aptrepo.py mirror_relay), each connection to port 80 is
piped to it as it is: the host's apt talks to the real mirror through the namespace's only interface.
READY is created once the sockets listen; it exits when the shell that started it is gone. Standard
library only: it runs on the test process's interpreter, outside the host's root.
"""

from __future__ import annotations

import http.server
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from pathlib import Path


def pipe(one: socket.socket, other: socket.socket) -> None:
    """Copy both ways until each side has closed its half (one thread a way)."""
    def copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    back = threading.Thread(target=copy, args=(other, one), daemon=True)
    back.start()
    copy(one, other)
    back.join()


def main(root: str, cert: str, key: str, address: str, ready: str, log: str, relay: str = "") -> None:
    top = Path(root).resolve()
    journal = open(log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _file(self) -> Path | None:
            host = self.headers.get("Host", "").split(":")[0]
            parts = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parts.path) + (f"?{parts.query}" if parts.query else "")
            site = (top / host).resolve()
            found = (site / path.lstrip("/")).resolve()
            ok = host and found.is_file() and found.is_relative_to(site)
            journal.write(f"{host} {path} {200 if ok else 404}\n")
            return found if ok else None

        def _answer(self, body: bool) -> None:
            found = self._file()
            data = found.read_bytes() if found else b"Not Found\n"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self) -> None:  # HTTPServer's own asks DNS for the address's name (socket.getfqdn):
            socketserver.TCPServer.server_bind(self)  # the namespace has no resolver to answer
            self.server_name, self.server_port = self.server_address[:2]

    secure, plain = Server((address, 443), Handler), Server((address, 8000), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    if relay:
        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.socket(socket.AF_UNIX) as outside:
                    outside.connect(relay)
                    pipe(self.request, outside)

        class Relayed(socketserver.ThreadingTCPServer):
            daemon_threads = allow_reuse_address = True

        threading.Thread(target=Relayed((address, 80), Relay).serve_forever, daemon=True).start()
    parent = os.getppid()

    def orphaned() -> None:  # the run's shell went (a test's timeout kills it, not this): so does the server
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    Path(ready).touch()
    secure.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
