"""An API's IP allow and block lists (Tyk's top-level fields), validated for the gateway and the dashboard.

``enable_ip_whitelisting`` + ``allowed_ips``: only those clients pass. ``enable_ip_blacklisting`` +
``blacklisted_ips``: those clients are refused. Entries are IPv4 or IPv6 addresses or CIDR blocks; a bad one
is refused with its index (``allowed_ips.2``), since a list that silently lost an entry would let traffic through.
"""

from __future__ import annotations

from ipaddress import ip_network
from typing import Annotated

from pydantic import AfterValidator, BaseModel


def _network(value: str) -> str:
    try:
        network = ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)") from None
    if network.version == 6 and network.network_address.ipv4_mapped is not None:
        raise ValueError(f"{value!r}: write IPv4 addresses in their plain form")
    return value


IpEntry = Annotated[str, AfterValidator(_network)]


class IpAccessFields(BaseModel):
    """Mixed into ApiDefinition: Tyk keeps these four fields at the top of a definition."""

    enable_ip_whitelisting: bool = False
    allowed_ips: list[IpEntry] | None = None
    enable_ip_blacklisting: bool = False
    blacklisted_ips: list[IpEntry] | None = None

    @property
    def ip_lists_apply(self) -> bool:
        """An enabled list with no entries does nothing, as in Tyk (an empty allow list does not lock everyone out)."""
        return (self.enable_ip_whitelisting and bool(self.allowed_ips)) or \
            (self.enable_ip_blacklisting and bool(self.blacklisted_ips))
