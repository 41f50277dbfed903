"""The client address: the TCP peer, or X-Forwarded-For read right to left past trusted proxies only."""

import secrets

import pytest

from tollhouse.gateway.client_address import ClientAddress, parse_address
from tollhouse.gateway.http.messages import Request

LB = ["10.0.0.0/8", "fd00::/8"]


def request(peer: str, *forwarded: str) -> Request:
    return Request("GET", "/", "1.1", [("x-forwarded-for", value) for value in forwarded], client_ip=peer)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        # No trusted proxies: the header is never read.
        ([], "203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # The peer is not trusted: whatever it wrote is ignored.
        (LB, "203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # Behind one trusted balancer: the hop it saw.
        (LB, "10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        # The client forged entries on the left: the rightmost untrusted hop wins.
        (LB, "10.1.2.3", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),
        # Two trusted hops (one line or two headers), then the client.
        (LB, "10.1.2.3", ["6.6.6.6, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        (LB, "10.1.2.3", ["6.6.6.6, 198.51.100.1", "10.9.9.9"], "198.51.100.1"),
        # Every hop trusted: the leftmost is the best we know.
        (LB, "10.1.2.3", ["10.7.7.7, 10.8.8.8"], "10.7.7.7"),
        # No header from a trusted peer: the peer.
        (LB, "10.1.2.3", [], "10.1.2.3"),
        # Garbage from a trusted hop stops the walk at the last address that could be read.
        (LB, "10.1.2.3", ["198.51.100.1, unknown"], "10.1.2.3"),
        (LB, "10.1.2.3", ["garbage, 10.9.9.9"], "10.9.9.9"),
        # IPv6, ports and brackets as proxies write them; a dual-stack peer's IPv4-mapped form.
        (LB, "fd00::1", ["[2001:db8::5]:4711"], "2001:db8::5"),
        (LB, "::ffff:10.1.2.3", ["198.51.100.1:5000"], "198.51.100.1"),
        (["127.0.0.1"], "127.0.0.1", ["2001:db8::5"], "2001:db8::5"),
    ],
)
def test_client_address(trusted, peer, forwarded, expected):
    assert ClientAddress(trusted)(request(peer, *forwarded)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1.2.3.4", "1.2.3.4"), (" 1.2.3.4:80 ", "1.2.3.4"), ("[::1]:80", "::1"), ("::1", "::1"),
    ("::ffff:1.2.3.4", "1.2.3.4"), ("", None), ("unknown", None), ("1.2.3", None),
])
def test_parse_address(text, expected):
    address = parse_address(text)
    assert (str(address) if address is not None else None) == expected


def test_bad_trusted_proxy_is_refused():
    with pytest.raises(ValueError):
        ClientAddress(["10.0.0.0/33"])


def test_trusted_proxies_setting_names_the_bad_entry():
    from pydantic import ValidationError

    from tollhouse.gateway.settings import GatewaySettings

    base = {"secret": secrets.token_hex(16), "key_hash_secret": secrets.token_hex(16), "app_path": "/nonexistent"}
    assert GatewaySettings(**base, trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValidationError, match=r"entry 1 \('10\.0\.0\.0/99'\)"):
        GatewaySettings(**base, trusted_proxies=["10.0.0.1", "10.0.0.0/99"])
