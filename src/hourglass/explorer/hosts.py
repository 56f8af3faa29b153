"""Which ``Host`` headers ``hourglass serve`` answers: the names it is reachable by, on every bind.

A page on another site can make a browser send requests to this server under the site's own name (DNS
rebinding); the ``Host`` header then names that site, never this machine. So a request is answered only when its
``Host`` names this machine: loopback names always, and for a wider bind the bound address itself, or, for every
interface (``0.0.0.0``, ``::`` or ``''``), this machine's host name and addresses, plus any name the user allows
(``--allow-host``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::", "0:0:0:0:0:0:0:0"})


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine alone."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` names (lower case, no port) a server bound to ``host`` answers."""
    names = set(LOOPBACK_NAMES) | {host_name(name) for name in extra}
    # "0" (or a name resolving to 0.0.0.0) binds every interface as "0.0.0.0" does: judged by what it binds.
    if host not in EVERY_INTERFACE and not _addresses(host) & EVERY_INTERFACE:  # the name bound, and its addresses
        return frozenset(names | {host_name(host)} | _addresses(host))
    machine = socket.gethostname()
    names |= {host_name(machine), host_name(socket.getfqdn())} | _addresses(machine)
    return frozenset(names | set(_outgoing_addresses()))


def _addresses(name: str) -> set[str]:
    """The addresses ``name`` resolves to; none for a name that does not resolve."""
    with contextlib.suppress(OSError, UnicodeError):
        return {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(name, None)}
    return set()


def host_name(header: str) -> str:
    """A ``Host`` header's name: no port, no IPv6 brackets, lower case, no trailing dot."""
    header = header.strip()
    if header.startswith("["):  # [::1]:8000
        header = header[1 : header.find("]")] if "]" in header else header
    elif header.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        header = header.split(":")[0]
    return header.lower().rstrip(".")


def _outgoing_addresses() -> list[str]:
    """The addresses this machine sends from (its LAN addresses, usually); a UDP connect sends no packet."""
    found = []
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                found.append(str(s.getsockname()[0]).split("%")[0])
        except OSError:  # no route of that family
            pass
    return found
