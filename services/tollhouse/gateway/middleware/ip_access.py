"""The API's IP allow and block lists, checked first: refusing a client needs no key and no Redis."""

from __future__ import annotations

from tollhouse.gateway.client_address import ClientAddress, in_networks, parse_network
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext

REFUSED = "access from this IP has been disallowed"  # Tyk's message, for both lists


class CheckClientAddress:
    def __init__(self, api: CompiledApi, client_address: ClientAddress):
        definition = api.definition
        self.client_address = client_address
        self.allowed = tuple(parse_network(entry) for entry in definition.allowed_ips or ()) \
            if definition.enable_ip_whitelisting else ()
        self.blocked = tuple(parse_network(entry) for entry in definition.blacklisted_ips or ()) \
            if definition.enable_ip_blacklisting else ()

    async def __call__(self, ctx: RequestContext) -> None:
        address = self.client_address.address(ctx.request)
        # An address we cannot read is in no allow list, and is refused when there is one.
        if self.allowed and (address is None or not in_networks(address, self.allowed)):
            raise GatewayError(403, REFUSED)
        if self.blocked and address is not None and in_networks(address, self.blocked):
            raise GatewayError(403, REFUSED)
