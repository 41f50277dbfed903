"""IP allow and block lists through real gateway processes and a real upstream, with clients on several loopback
addresses (127.0.0.1, 127.0.0.2: real TCP peers) and X-Forwarded-For believed only from trusted_proxies.

Two gateways serve the whole table: ``direct`` trusts no proxy (the TCP peer is the client, whatever the header
says); ``behind_lb`` trusts 127.0.0.1 as its load balancer, so requests from there are judged by the header.
"""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.gateways import FileGateway
from tests.stack import wait_until
from tollhouse.core.analytics import ANALYTICS_LIST, decode

REFUSED = {"error": "access from this IP has been disallowed"}


def api(name: str, target: str, **fields) -> dict:
    return {"api_id": name, "name": name, "use_keyless": True,
            "proxy": {"listen_path": f"/{name}/", "target_url": target, "strip_listen_path": True}, **fields}


def allow(*entries: str) -> dict:
    return {"enable_ip_whitelisting": True, "allowed_ips": list(entries)}


def block(*entries: str) -> dict:
    return {"enable_ip_blacklisting": True, "blacklisted_ips": list(entries)}


def apis(target: str) -> list[dict]:
    return [
        api("allow-one", target, **allow("127.0.0.1")),
        api("allow-nets", target, **allow("10.0.0.0/8", "2001:db8::/32", "127.0.0.2/32")),
        api("block-loopback", target, **block("127.0.0.0/8")),
        api("block-one", target, **block("127.0.0.2", "198.51.100.0/24", "2001:db8:bad::/48")),
        api("both", target, **allow("127.0.0.0/8", "2001:db8::/32"), **block("127.0.0.2", "2001:db8:bad::1")),
        # A list that is not enabled does nothing (Tyk's fields kept as given).
        api("disabled", target, allowed_ips=["10.0.0.1"], blacklisted_ips=["127.0.0.0/8"]),
        api("open", target),
    ]


def start(workdir, redis_url, upstream, name: str, **settings) -> FileGateway:
    gateway = FileGateway(workdir, redis_url, settings, name)
    for definition in apis(f"http://127.0.0.1:{upstream.port}/"):
        gateway.write_api(definition)
    return gateway.start()


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, redis_proc, upstream):
    if redis_proc.process is None or redis_proc.process.poll() is not None:
        redis_proc.start()
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis.Redis.from_url(redis_url).flushall()
    workdir = tmp_path_factory.mktemp("ip-access")
    started = {"direct": start(workdir, redis_url, upstream, "direct"),
               "behind_lb": start(workdir, redis_url, upstream, "behind_lb", trusted_proxies=["127.0.0.1/32"])}
    yield started
    for gateway in started.values():
        gateway.stop()


def get(gateway: FileGateway, path: str, peer: str, forwarded: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=peer)) as client:
        return client.get(gateway.url + path, headers=headers)


@pytest.mark.parametrize(
    ("gateway", "peer", "forwarded", "path", "allowed"),
    [
        # The TCP peer decides; a header from an untrusted peer changes nothing.
        ("direct", "127.0.0.1", None, "/allow-one/x", True),
        ("direct", "127.0.0.2", None, "/allow-one/x", False),
        ("direct", "127.0.0.2", "127.0.0.1", "/allow-one/x", False),
        ("direct", "127.0.0.2", None, "/allow-nets/x", True),
        ("direct", "127.0.0.1", "10.1.1.1", "/allow-nets/x", False),
        ("direct", "127.0.0.1", None, "/block-loopback/x", False),
        ("direct", "127.0.0.1", "203.0.113.9", "/block-loopback/x", False),
        ("direct", "127.0.0.1", None, "/block-one/x", True),
        ("direct", "127.0.0.2", None, "/block-one/x", False),
        ("direct", "127.0.0.1", None, "/both/x", True),
        ("direct", "127.0.0.2", None, "/both/x", False),  # allowed by the net, blocked by address: refused
        ("direct", "127.0.0.1", None, "/disabled/x", True),
        # Behind the trusted balancer (127.0.0.1): the rightmost untrusted X-Forwarded-For hop is the client.
        ("behind_lb", "127.0.0.1", "10.2.3.4", "/allow-nets/x", True),
        ("behind_lb", "127.0.0.1", "10.2.3.4, 192.0.2.7", "/allow-nets/x", False),  # forged left part ignored
        ("behind_lb", "127.0.0.1", "192.0.2.7, 10.2.3.4", "/allow-nets/x", True),
        ("behind_lb", "127.0.0.1", "2001:db8::42", "/allow-nets/x", True),
        ("behind_lb", "127.0.0.1", "2001:db9::42", "/allow-nets/x", False),
        ("behind_lb", "127.0.0.1", None, "/allow-nets/x", False),  # no header: the balancer itself
        ("behind_lb", "127.0.0.1", "198.51.100.20", "/block-one/x", False),
        ("behind_lb", "127.0.0.1", "198.51.101.20", "/block-one/x", True),
        ("behind_lb", "127.0.0.1", "[2001:db8:bad::7]:5050", "/block-one/x", False),
        ("behind_lb", "127.0.0.1", "2001:db8::5", "/both/x", True),
        ("behind_lb", "127.0.0.1", "2001:db8:bad::1", "/both/x", False),
        # 127.0.0.2 is not a trusted proxy: its header is ignored, the peer is judged.
        ("behind_lb", "127.0.0.2", "10.2.3.4", "/allow-nets/x", True),
        ("behind_lb", "127.0.0.2", "127.0.0.1", "/allow-one/x", False),
    ],
)
def test_ip_lists(gateways, gateway, peer, forwarded, path, allowed):
    reply = get(gateways[gateway], path, peer, forwarded)
    if allowed:
        assert reply.status_code == 200, reply.text
        assert reply.json()["path"] == "/x"  # the upstream's echo: it got through
    else:
        assert (reply.status_code, reply.json()) == (403, REFUSED)


def test_analytics_records_the_same_client_address(gateways, redis_proc):
    """Analytics names the client the IP lists judged: the forwarded one only behind a trusted proxy."""
    store = redis.Redis(port=redis_proc.port)
    for gateway, peer, tag in [("behind_lb", "127.0.0.1", "trusted"), ("behind_lb", "127.0.0.2", "untrusted"),
                               ("direct", "127.0.0.1", "direct")]:
        assert get(gateways[gateway], f"/open/analytics-{tag}", peer, "10.9.8.7").status_code == 200

    def recorded():
        records = [decode(raw) for raw in store.lrange(ANALYTICS_LIST, 0, -1)]
        found = {record["path"].rsplit("-", 1)[1]: record["ip_address"] for record in records
                 if record["path"].startswith("/open/analytics-")}
        return found if len(found) == 3 else None

    assert wait_until(recorded, 10, message="analytics records") == {
        "trusted": "10.9.8.7", "untrusted": "127.0.0.2", "direct": "127.0.0.1"}
