"""Requests received whole before a worker sees them: one thread, one selector, one deadline per request.

A worker that read its own request waited on its client: 32 clients that promised a large body and sent a byte
every few seconds held all 32 workers (the timeout bounded each read, not the request), and a plain ``GET /``
waited behind them. Here one thread watches every open connection at once and hands a worker only a complete
request: its head, and as many body bytes as its ``Content-Length`` says. A connection that has not sent that
within the deadline is answered 408 (or, if it sent nothing, closed) without ever holding a worker. A slow client
costs the bytes it sent so far; the server's cap on open connections bounds those, and when the cap is reached
the connection sending longest (over ``SLOW`` seconds) gives way to the next (``make_room``).
"""

from __future__ import annotations

import contextlib
import json
import queue
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD = 64 * 1024  # bytes of request line and headers: a longer head goes to the handler, which refuses it
RECV = 64 * 1024  # bytes per read
SLOW = 1.0  # seconds a request may take to arrive before it gives way to a new connection when all places are taken


@dataclass
class _Pending:
    address: Any
    deadline: float  # time.monotonic() by which the whole request must be in
    data: bytearray = field(default_factory=bytearray)
    size: int | None = None  # the whole request's bytes, once its head is in


class Receiver:
    """Reads requests on a thread of its own; ``deliver(sock, address, request_bytes)`` gets each complete one, and
    ``drop(sock)`` each connection it gives up on (closed by the client, past its deadline, or dropped to make room).

    ``deliver`` and ``drop`` run on the receiver's thread: they must not block.
    """

    def __init__(
        self,
        deliver: Callable[[socket.socket, Any, bytes], None],
        drop: Callable[[socket.socket], None],
        timeout: float,
        max_body: int,
    ) -> None:
        self._deliver, self._drop = deliver, drop
        self.timeout, self.max_body = timeout, max_body
        self._selector = selectors.DefaultSelector()
        # Another thread adds connections: a byte on this pair wakes the selector to take them.
        self._wake_in, self._wake_out = socket.socketpair()
        for end in (self._wake_in, self._wake_out):
            end.setblocking(False)
        self._selector.register(self._wake_out, selectors.EVENT_READ)
        self._new: queue.SimpleQueue = queue.SimpleQueue()
        self._open: dict[socket.socket, _Pending] = {}
        self._want_room = False  # set while a new connection waits for a place (see make_room)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket, address: Any) -> None:
        """Receive a new connection's request (from any thread); its deadline starts now."""
        self._new.put((sock, address, time.monotonic() + self.timeout))
        self._wake()

    def make_room(self, wanted: bool = True) -> None:
        """Ask (from the thread waiting to ``add``, when every place is taken) for the connection that has been
        sending longest to be dropped, once it has been at it ``SLOW`` seconds; ``wanted=False`` withdraws the
        request. A flood of slow senders then takes turns with each other, not with clients that send their
        request at once (a burst of those waits its turn instead, as none of them is slow)."""
        self._want_room = wanted
        if wanted:
            self._wake()

    def close(self) -> None:
        """Stop, dropping every connection still sending."""
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the pair's buffer is full (a wake-up is pending anyway) or closed
            self._wake_in.send(b"\0")

    def _loop(self) -> None:
        try:
            while not self._closed:
                deadline = min((p.deadline for p in self._open.values()), default=None)
                if self._want_room and deadline is not None:  # wake too when the oldest is slow enough to drop
                    deadline = min(deadline, deadline - self.timeout + SLOW)
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                for key, _ in self._selector.select(wait):
                    if key.fileobj is self._wake_out:
                        self._take_new()
                    else:
                        self._receive_safely(key.fileobj)  # type: ignore[arg-type]
                self._expire(time.monotonic())
        finally:
            for sock in list(self._open):
                self._forget(sock)
                self._drop(sock)
            while not self._new.empty():
                self._drop(self._new.get()[0])
            self._selector.close()
            self._wake_in.close()
            self._wake_out.close()

    def _take_new(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_out.recv(4096):
                pass
        while not self._new.empty():
            sock, address, deadline = self._new.get()
            sock.setblocking(False)
            self._open[sock] = _Pending(address, deadline)
            self._selector.register(sock, selectors.EVENT_READ)

    def _receive_safely(self, sock: socket.socket) -> None:
        try:
            self._receive(sock)
        except Exception as e:  # a bug of ours: drop this connection, and keep receiving everyone else's
            sys.stderr.write(f"hourglass serve: receiving a request: {type(e).__name__}: {e}\n")
            if sock in self._open:
                self._forget(sock)
            self._drop(sock)

    def _receive(self, sock: socket.socket) -> None:
        pending = self._open[sock]
        try:
            data = sock.recv(RECV)
        except BlockingIOError:
            return
        except OSError:  # reset by the client
            data = b""
        if not data:  # closed before the request was whole: nobody to answer
            self._forget(sock)
            self._drop(sock)
            return
        pending.data += data
        if pending.size is None:
            pending.size = request_size(pending.data, self.max_body)
        if pending.size is not None and len(pending.data) >= pending.size:
            self._forget(sock)
            sock.setblocking(True)
            self._deliver(sock, pending.address, bytes(pending.data))

    def _expire(self, now: float) -> None:
        if self._want_room and self._open:
            sock, oldest = min(self._open.items(), key=lambda item: item[1].deadline)  # deadlines: start + timeout
            if now - (oldest.deadline - self.timeout) >= SLOW:
                self._want_room = False
                self._forget(sock)
                _try_send(sock, _reply(503, "Service Unavailable", "too many slow requests at once; try again"))
                self._drop(sock)
        for sock, pending in list(self._open.items()):
            if pending.deadline <= now:
                self._forget(sock)
                if pending.data:  # a client that said nothing is closed without a word
                    _try_send(sock, _reply(408, "Request Timeout", f"request not received within {self.timeout:g} s"))
                self._drop(sock)

    def _forget(self, sock: socket.socket) -> None:
        del self._open[sock]
        self._selector.unregister(sock)


def request_size(data: bytes | bytearray, max_body: int) -> int | None:
    """The bytes of the request that ``data`` begins: its head plus its ``Content-Length``; None while the head is
    not all in. A missing, malformed or oversized length counts as no body: the handler answers 411 or 413 from the
    head alone. A head over ``MAX_HEAD`` bytes is taken as it is, for the handler to refuse."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := data.find(mark)) >= 0]
    if not ends:
        return len(data) if len(data) > MAX_HEAD else None
    head = min(ends)
    length = 0
    for line in bytes(data[:head]).split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())  # as the handler reads it
            except ValueError:
                length = 0
    return head + (length if 0 <= length <= max_body else 0)


def _reply(status: int, reason: str, error: str) -> bytes:
    body = json.dumps({"error": error}).encode()
    head = f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def _try_send(sock: socket.socket, data: bytes) -> None:
    """One non-blocking send: a client too slow to take a few bytes gets none."""
    with contextlib.suppress(OSError):
        sock.send(data)
