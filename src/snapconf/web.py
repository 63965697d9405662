"""HTTP helpers every face shares: who the peer is, and which address it reached.

Imports nothing of snapconf: the signaling, the API and the pages use it, and so do the
bookings when they build links.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web


def peer_address(request: web.Request) -> str:
    """The TCP peer's IP address (never a forwarded header), IPv4-mapped IPv6 unmapped."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return ""
    host = str(peer[0])
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def local_base_url(request: web.Request) -> str:
    """``http(s)://<local address>:<port>`` of the connection (loopback if unknown)."""
    scheme = "https" if request.secure else "http"
    transport = request.transport
    local = transport.get_extra_info("sockname") if transport is not None else None
    if not local or not isinstance(local, tuple):
        return f"{scheme}://127.0.0.1"
    host, port = str(local[0]), int(local[1])
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return f"{scheme}://127.0.0.1"
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        host = str(mapped) if mapped is not None else f"[{address}]"
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"
