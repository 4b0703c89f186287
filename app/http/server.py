"""uvicorn's httptools protocol as production runs it (``--http app.http.server:HttpProtocol``).

Two changes to uvicorn's own, both below the app, so every response gets them:
- a bounded request head: httptools hands a header over only once it is complete and buffers it
  until then, so without a bound one connection could make a worker hold any amount of memory;
- the response head leaves with the body: uvicorn writes the status line and headers, then the
  body, each at once, which on a TCP_NODELAY socket is two system calls and two TCP segments per
  response. Holding the head until the first body bytes sends both in one ``writev``, as nginx
  does with ``tcp_nopush``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.http.limits import MAX_HEAD_BYTES


class HeadWithBody:
    """The transport as one request's response cycle sees it: the response head is held back and
    written with the body's first bytes, or on its own once the response is complete (HEAD, 304)."""

    __slots__ = ("transport", "head", "started")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.head: bytes | None = None
        self.started = False  # the response head was written or is held

    def write(self, data: bytes) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.writelines((head, data))
        elif self.started or data.startswith(b"HTTP/1.1 1"):  # body bytes, or an interim 100 Continue
            self.transport.write(data)
        else:
            self.head, self.started = data, True

    def flush(self) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head longer than MAX_HEAD_BYTES with a 431
    and sending each response head together with its body."""

    _head_bytes = 0
    _in_body = False

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                message = f"request head larger than {MAX_HEAD_BYTES} bytes\n".encode()
                self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                     b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
                                     b"content-length: %d\r\n\r\n%s" % (len(message), message))
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_body, self._head_bytes = True, 0  # a body is the app's to bound
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle is previous:  # an upgrade (WebSocket): no response cycle
            return
        transport = cycle.transport = HeadWithBody(self.transport)
        complete = cycle.on_response

        def on_response() -> None:  # the head of a response without body bytes goes out now
            transport.flush()
            complete()

        cycle.on_response = on_response

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()
