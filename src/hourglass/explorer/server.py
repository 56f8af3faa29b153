"""``hourglass serve``: the explorer page plus a JSON decode/encode API, on the standard library's HTTP server.

The page is rendered (and gzipped) once at start-up and held in memory; no request path or body ever names a file.
One request per connection (HTTP/1.0), received whole under one deadline before a worker sees it
(``explorer.receive``), every write under a timeout, and a client that hangs up costs one failed send: no
traceback, no retry, nothing kept. Every bind checks the ``Host`` header (``explorer.hosts``).
"""

from __future__ import annotations

import gzip
import io
import json
import queue
import re
import socket
import sys
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np

from hourglass.data import model_input
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.explorer.hosts import allowed_hosts, host_name
from hourglass.explorer.page import MAX_POINTS, csp, render_page
from hourglass.explorer.receive import Receiver

MAX_BODY = 1 << 20  # bytes per request
MAX_ROWS = 10_000  # rows (or codes) per request
WORKERS = 32  # requests handled at once (threads)
# Connections open at once, receiving or being answered; more wait in the listen backlog. Bounds the bytes held
# for requests still arriving (MAX_BODY each at worst).
MAX_OPEN = 128
# A client gone mid-request (BrokenPipe, ConnectionReset/Aborted) or too slow (socket timeouts): its business only.
DISCONNECTS = (ConnectionError, TimeoutError)


class _TooLarge(HourglassError):
    """A well-formed request over the size limits (HTTP 413)."""


class _Api:
    """The model behind a lock: one forward pass at a time, whatever the number of request threads. Its codes are
    ``codes`` (an anomaly detector's too, which has no ``transform``) and its decodings its runner's."""

    def __init__(self, model: Autoencoder) -> None:
        self.model = model
        self.lock = threading.Lock()

    def decode(self, body: dict[str, Any]) -> dict[str, Any]:
        codes = _matrix(body, "codes", self.model.model_.latent_dim, "the model's code width")
        with self.lock:
            rows = self.model.runner_.inverse_transform(codes)
        return {"rows": _finite(rows, "codes")}

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        rows = _matrix(body, "rows", self.model.n_features_in_, "the model's feature count")
        with self.lock:
            codes = self.model.codes(model_input(rows, self.model, where="'rows'"))
        return {"codes": _finite(codes, "rows")}

    def inspect(self, body: dict[str, Any]) -> dict[str, Any]:
        """Rows -> codes, reconstructions (original units, flat) and scores in the map's units (``-score_samples``):
        all the drawing pad needs, in one round trip."""
        rows = _matrix(body, "rows", self.model.n_features_in_, "the model's feature count")
        with self.lock:
            X = model_input(rows, self.model, where="'rows'")
            codes, rebuilt, scores = self.model.codes(X), self.model.reconstruct(X), -self.model.score_samples(X)
        return {
            "codes": _finite(codes, "rows"),
            "reconstructions": _finite(rebuilt.reshape(len(rows), -1), "rows"),
            "scores": _finite(scores, "rows"),
        }


ROUTES = {"/api/decode": _Api.decode, "/api/encode": _Api.encode, "/api/inspect": _Api.inspect}


def _matrix(body: Any, key: str, width: int, what: str) -> np.ndarray:
    if not isinstance(body, dict) or key not in body:
        raise HourglassError(f'expected a JSON object {{"{key}": [[...], ...]}}')
    value = body[key]
    if not isinstance(value, list) or not value:
        raise HourglassError(f"{key!r} must be a non-empty list of rows")
    if len(value) > MAX_ROWS:
        raise _TooLarge(f"at most {MAX_ROWS} rows per request; got {len(value)}")
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} numbers" if isinstance(row, list) else f"a JSON {type(row).__name__}"
            raise HourglassError(f"every row of {key!r} must be a list of {width} numbers ({what}); row {i} has {got}")
        # type() rather than isinstance(): JSON true/false arrive as bool, a subclass of int.
        if not all(type(v) is float or type(v) is int for v in row):
            raise HourglassError(f"{key!r} must hold only numbers; row {i} is {json.dumps(row):.80}")
    try:
        with np.errstate(over="ignore"):
            array = np.asarray(value, dtype=np.float32)
    except OverflowError:  # an integer literal beyond any float
        array = np.full(1, np.inf, np.float32)
    if not np.isfinite(array).all():
        raise HourglassError(f"{key!r} holds NaN or infinite values (or numbers beyond float32's 3.4e38)")
    return array


def _accepts_gzip(header: str) -> bool:
    """``Accept-Encoding`` lists gzip (and does not refuse it with ``q=0``)."""
    for item in header.lower().split(","):
        name, _, params = item.partition(";")
        if name.strip() == "gzip":
            return re.fullmatch(r"\s*q\s*=\s*0(\.0*)?\s*", params) is None
    return False


def _finite(result: np.ndarray, key: str) -> list:
    # json.dumps would write NaN/Infinity, which no browser's JSON.parse accepts.
    if not np.isfinite(result).all():
        raise HourglassError(f"{key!r} lie so far outside the data that the model's output overflowed")
    return result.tolist()


class _Server(HTTPServer):
    """A receiver thread reads each request whole, then a fixed pool of worker threads answers it.

    A thread per connection made a flood of connections (thousands of clients that hang up) cost a thread start
    each and let them all contend at once, so a well-behaved client waited seconds behind them. Here at most
    MAX_OPEN connections are open; the rest wait in the kernel's listen backlog, costing nothing. A worker never
    waits on a client's request (slow senders wait in the receiver, under a deadline), only on sending a reply.
    """

    request_queue_size = 1024  # the default of 5 resets connections under a burst

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._open = threading.Semaphore(MAX_OPEN)
        self._workers: list[threading.Thread] = []
        self._receiver: Receiver | None = None
        super().__init__(address, handler)  # binds (a failure calls server_close and raises): no thread started yet
        deadline = handler.timeout or 10.0  # seconds for the whole request, head and body
        self._receiver = Receiver(self._job, self._close, deadline, MAX_BODY)
        # Daemon threads: a stop (Ctrl-C) never waits on a client.
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(WORKERS)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        assert self._receiver is not None  # made in __init__, before serving
        if not self._open.acquire(blocking=False):
            self._receiver.make_room()  # the connection sending longest gives way, once it is slow
            self._open.acquire()  # meanwhile new connections queue in the kernel
            self._receiver.make_room(wanted=False)
        self._receiver.add(request, client_address)

    def _job(self, request: socket.socket, client_address: Any, received: bytes) -> None:
        self._jobs.put((request, client_address, received))

    def _close(self, request: socket.socket) -> None:
        self.shutdown_request(request)
        self._open.release()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            request, client_address, received = job
            try:
                self.finish_request((request, received), client_address)  # the handler's setup unpacks it
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self._close(request)

    def server_close(self) -> None:
        super().server_close()
        if self._receiver is not None:
            self._receiver.close()
        for _ in self._workers:
            self._jobs.put(None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's default prints a traceback per failed connection: thousands under a burst of hang-ups.
        error = sys.exc_info()[1]
        if not isinstance(error, DISCONNECTS):  # a bug of ours: one line, and keep serving everyone else
            sys.stderr.write(f"hourglass serve: {type(error).__name__}: {error}\n")


class _Server6(_Server):
    address_family = socket.AF_INET6  # an IPv6 address such as ::1


def make_server(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    *,
    rows: Any = None,
    ids: Any = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_points: int = MAX_POINTS,
    title: str | None = None,
    quiet: bool = True,
    timeout: float = 10.0,
    allow_hosts: Sequence[str] = (),
) -> HTTPServer:
    """A server (not yet running) for the explorer of ``model`` over ``X``; ``port=0`` picks a free port.

    ``timeout`` (seconds) bounds each request's arrival, head and body together, and every socket write, so a
    client that stalls holds no thread. Requests whose ``Host`` header names neither this machine (as bound:
    see ``explorer.hosts``) nor one of ``allow_hosts`` are refused (403), whatever ``host`` is.
    ``rows`` and ``ids`` name the dots as in ``render_page``: each row's 0-based number in its source, its file path.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise HourglassError(f"port must be a whole number from 0 to 65535; got {port!r}")
    page = render_page(model, X, y, mode="server", rows=rows, ids=ids, max_points=max_points, title=title).encode()
    page_gzip = gzip.compress(page, mtime=0)  # once, not per request: about half the bytes to send
    policy = csp("server") + "; frame-ancestors 'none'"  # a header may say what a <meta> cannot
    api = _Api(model)
    hosts = allowed_hosts(host, allow_hosts)

    class Handler(BaseHTTPRequestHandler):
        server_version = "hourglass"
        sys_version = ""

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            if self.path.split("?", 1)[0] not in ("/", "/index.html"):
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
                self._send(HTTPStatus.OK, page_gzip, "text/html; charset=utf-8", "gzip")
            else:
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")

        def do_POST(self) -> None:
            if not self._host_ok():
                return
            route = ROUTES.get(self.path)
            if route is None:
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            # application/json only: a cross-site form cannot send it without a CORS preflight we never grant.
            if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send Content-Type: application/json"})
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            if length < 0 or length > MAX_BODY:
                self.close_connection = True  # never read an oversized body
                return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY} bytes"})
            try:
                body = json.loads(self.rfile.read(length))
                result = route(api, body)
            except (ValueError, HourglassError) as e:  # json.JSONDecodeError is a ValueError
                status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if isinstance(e, _TooLarge) else HTTPStatus.BAD_REQUEST
                return self._json(status, {"error": (str(e).splitlines() or [type(e).__name__])[0]})
            except RecursionError:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": "JSON nested too deeply"})
            except Exception as e:  # a bug of ours: answer it and keep serving everyone else
                sys.stderr.write(f"hourglass serve: {self.path}: {type(e).__name__}: {e}\n")
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(e).__name__})"})
            self._json(HTTPStatus.OK, result)

        def _host_ok(self) -> bool:
            # Guards against DNS rebinding: a page on another site must not reach us under its own name.
            name = host_name(self.headers.get("Host", ""))
            if name in hosts:
                return True
            refused = f"unexpected Host header {name[:100]!r} (serve --allow-host NAME adds a name)"
            self._json(HTTPStatus.FORBIDDEN, {"error": refused})
            return False

        def setup(self) -> None:
            self.request, received = self.request  # the socket, and its request as the receiver read it whole
            super().setup()
            self.rfile.close()
            self.rfile = io.BytesIO(received)

        def _json(self, status: HTTPStatus, obj: dict[str, Any]) -> None:
            self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

        def handle(self) -> None:
            try:
                super().handle()
            except DISCONNECTS:  # the client went away or stalled: close quietly, nobody is left to tell
                self.close_connection = True

        def _send(self, status: HTTPStatus, data: bytes, content_type: str, encoding: str | None = None) -> None:
            self.send_response(status)
            for name, value in {
                "Content-Type": content_type,
                "Content-Length": str(len(data)),
                "Content-Security-Policy": policy,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
                "Vary": "Accept-Encoding",
            }.items():
                self.send_header(name, value)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.end_headers()
            self.wfile.write(data)  # sendall of the shared bytes; a hang-up raises and ends in handle()

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

    Handler.timeout = timeout  # socketserver applies it to each connection's socket
    server_class = _Server6 if ":" in host else _Server
    try:
        return server_class((host, port), Handler)
    except (OSError, ValueError) as e:  # in use, not ours, unknown name; ValueError: a NUL or bad IDNA in the name
        raise HourglassError(f"cannot listen on {host}:{port} ({getattr(e, 'strerror', None) or e})") from None
