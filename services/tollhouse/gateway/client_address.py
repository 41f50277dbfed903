"""Who the client is: the TCP peer, or what trusted proxies in front of the gateway say it was.

``X-Forwarded-For`` is only believed when the peer is one of the ``trusted_proxies`` networks: anyone
else could write any address there. Each proxy appends the address it received the request from, so the
list is read right to left, skipping the trusted hops; the first untrusted address is the client (a client
can put anything on the left of the list, never on the right of its own entry). Used by the IP allow and
block lists and by analytics, so both name the same address.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from tollhouse.gateway.http.messages import Request

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def parse_address(text: str) -> Address | None:
    """An address as peers and proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), or None.

    IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 clients) become plain IPv4.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> Network:
    """A single address or a CIDR block; ValueError says what is wrong. Host bits are ignored, as Tyk does."""
    network = ip_network(text.strip(), strict=False)
    if isinstance(network, IPv6Network) and network.network_address.ipv4_mapped is not None:
        raise ValueError("use the plain IPv4 form, not an IPv4-mapped IPv6 address")
    return network


def in_networks(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


class ClientAddress:
    """Resolves the client address of a request; one per gateway process (the ``trusted_proxies`` setting)."""

    __slots__ = ("trusted",)

    def __init__(self, trusted_proxies: Iterable[str] = ()):
        self.trusted = tuple(parse_network(cidr) for cidr in trusted_proxies)

    def __call__(self, request: Request) -> str:
        """The client address as text (the peer's text unchanged when no proxy is trusted)."""
        if not self.trusted:
            return request.client_ip
        address = self.address(request)
        return str(address) if address is not None else request.client_ip

    def address(self, request: Request) -> Address | None:
        """The client address; None when the peer's address cannot be parsed (a Unix socket)."""
        peer = parse_address(request.client_ip)
        if peer is None or not self.trusted or not in_networks(peer, self.trusted):
            return peer
        client = peer
        for hop in reversed(forwarded_hops(request)):
            address = parse_address(hop)
            if address is None:  # a trusted proxy passed on garbage: the last address we could read stands
                break
            client = address
            if not in_networks(address, self.trusted):
                break
        return client


def forwarded_hops(request: Request) -> list[str]:
    """Every X-Forwarded-For entry, left to right, across repeated headers."""
    return [hop for name, value in request.headers if name == "x-forwarded-for"
            for hop in value.split(",") if hop.strip()]
