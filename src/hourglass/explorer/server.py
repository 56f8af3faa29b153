"""``hourglass serve``: the explorer page plus a JSON decode/encode API, on the standard library's HTTP server.

The page is rendered once at start-up and held in memory; no request path or body ever names a file.
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.explorer.page import CSP, MAX_POINTS, model_input, render_page

MAX_BODY = 1 << 20  # bytes per request
MAX_ROWS = 10_000  # rows (or codes) per request
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _TooLarge(HourglassError):
    """A well-formed request over the size limits (HTTP 413)."""


class _Api:
    """The model behind a lock: one forward pass at a time, whatever the number of request threads."""

    def __init__(self, model: Autoencoder) -> None:
        self.model = model
        self.lock = threading.Lock()

    def decode(self, body: dict[str, Any]) -> dict[str, Any]:
        codes = _matrix(body, "codes", self.model.model_.latent_dim, "the model's code width")
        with self.lock:
            rows = self.model.inverse_transform(codes)
        return {"rows": _finite(rows, "codes")}

    def encode(self, body: dict[str, Any]) -> dict[str, Any]:
        rows = _matrix(body, "rows", self.model.n_features_in_, "the model's feature count")
        with self.lock:
            codes = self.model.transform(model_input(self.model, rows))
        return {"codes": _finite(codes, "rows")}


ROUTES = {"/api/decode": _Api.decode, "/api/encode": _Api.encode}


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


def _finite(result: np.ndarray, key: str) -> list:
    # json.dumps would write NaN/Infinity, which no browser's JSON.parse accepts.
    if not np.isfinite(result).all():
        raise HourglassError(f"{key!r} lie so far outside the data that the model's output overflowed")
    return result.tolist()


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 resets connections under a burst; threads must not outlive a stop.
    request_queue_size = 1024
    daemon_threads = True


def make_server(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_points: int = MAX_POINTS,
    title: str | None = None,
    quiet: bool = True,
    timeout: float = 10.0,
) -> ThreadingHTTPServer:
    """A server (not yet running) for the explorer of ``model`` over ``X``; ``port=0`` picks a free port.

    ``timeout`` (seconds) bounds every socket read and write, so a client that stalls frees its thread.
    """
    page = render_page(model, X, y, mode="server", max_points=max_points, title=title).encode("utf-8")
    api = _Api(model)

    class Handler(BaseHTTPRequestHandler):
        server_version = "hourglass"
        sys_version = ""

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            if self.path.split("?", 1)[0] not in ("/", "/index.html"):
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
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
                raw = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                return self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": f"body not received within {timeout:g} s"})
            try:
                body = json.loads(raw)
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
            if host not in LOCAL_HOSTS:
                return True
            name = self.headers.get("Host", "").rsplit(":", 1)[0].strip("[]")
            if name in LOCAL_HOSTS:
                return True
            self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
            return False

        def _json(self, status: HTTPStatus, obj: dict[str, Any]) -> None:
            self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

        def _send(self, status: HTTPStatus, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Security-Policy", CSP["server"])
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

    Handler.timeout = timeout  # socketserver applies it to each connection's socket
    try:
        return _Server((host, port), Handler)
    except OSError as e:
        raise HourglassError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
