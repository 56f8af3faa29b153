"""``hourglass serve MODEL [DATA] --port 8000``: the explorer, decoding on a local server (any model)."""

from __future__ import annotations

import argparse
import socket
import sys

from hourglass.cli.arguments import bounded_int
from hourglass.cli.explore import add_explorer_args
from hourglass.cli.reading import read_model, read_model_data


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        description="Serve the explorer page with decoding on a local server (any decoder, codes of any "
        "width: the map is a PCA projection above 2-D) and a JSON API: POST /api/decode "
        '{"codes": [[...]]}, /api/encode {"rows": [[...]]} and /api/inspect {"rows": [[...]]} (codes, '
        "reconstructions and anomaly scores in one reply).",
    )
    add_explorer_args(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 or '' listen on every interface)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a further name this server may be reached by (the Host header of requests; repeatable). Requests "
        "naming anything else are refused, whatever --host is: loopback names and the address listened on (with "
        "every interface, this machine's host name and addresses) are always allowed",
    )
    p.add_argument(
        "--port", type=bounded_int(0, 65535), default=8000, help="port (default: %(default)s; 0 picks a free one)"
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.explorer.hosts import EVERY_INTERFACE, is_loopback
    from hourglass.explorer.server import make_server

    model = read_model(args.model)
    data = read_model_data(args, model)
    title = args.title or f"hourglass explorer: {data.name}"
    server = make_server(
        model, data, host=args.host, port=args.port, max_points=args.max_points, title=title,
        quiet=not args.verbose, allow_hosts=args.allow_host,
    )  # fmt: skip
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, (bytes, bytearray)) else str(host)
    if not is_loopback(host):  # the address bound (a name resolved), said once it listens, above the URL
        where = "every interface" if host in EVERY_INTERFACE else host  # as bound: --host 0 is 0.0.0.0
        print(
            f"hourglass: warning: listening on {where} (--host {args.host!r}), beyond this machine: anyone who can "
            "reach it can read the map and use the API; requests must name this machine in their Host header",
            file=sys.stderr,
            flush=True,
        )
    if host in EVERY_INTERFACE:  # 0.0.0.0 is no address to browse to: this machine's name is
        host = socket.gethostname()
    where = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    print(f"serving the explorer on http://{where}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
