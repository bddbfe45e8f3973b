"""Where a server can be reached: the URLs to print, never ``http://0.0.0.0``."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs more import time than all of picohttp: names only
    from typing import List, Optional


def listening_urls(host: Optional[str], port: int, scheme: str = "http") -> List[str]:
    """URLs that reach a server bound to ``host``: never ``0.0.0.0`` or ``[::]``.

    Bound to every interface: ``127.0.0.1`` and this machine's LAN addresses
    (IPv4 only when the socket takes no IPv6); else the bind address.
    """
    if host in (None, "", "::", "0.0.0.0"):
        urls = [f"{scheme}://127.0.0.1:{port}/"]
        import socket

        # bind_socket takes IPv6 too only where the OS has dual-stack sockets.
        ipv6 = host != "0.0.0.0" and socket.has_dualstack_ipv6()
        for address in lan_addresses(ipv6):
            shown = f"[{address}]" if ":" in address else address
            url = f"{scheme}://{shown}:{port}/"
            if url not in urls:
                urls.append(url)
        return urls
    shown = f"[{host}]" if host and ":" in host else host
    return [f"{scheme}://{shown}:{port}/"]


def lan_addresses(ipv6: bool) -> List[str]:
    """This machine's addresses that other machines can reach, best first; no loopback.

    The address of the default route (a UDP ``connect`` sends nothing, it only
    picks the interface, as werkzeug does), then those the host name resolves to.
    IPv6 link-local addresses are left out: a URL needs their zone to work.
    """
    import ipaddress
    import socket

    found: List[str] = []
    probes = [(socket.AF_INET, "10.255.255.255")]
    if ipv6 and socket.has_ipv6:
        probes.append((socket.AF_INET6, "fd00:ffff::1"))
    for family, target in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(str(probe.getsockname()[0]))
        except OSError:
            continue  # no route of that family
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
        found.extend(str(info[4][0]) for info in infos)
    except OSError:
        pass
    addresses: List[str] = []
    for text in found:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        if address.version == 6 and not ipv6:
            continue
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses
