"""API versions through a real gateway process (file mode) and a real upstream: the version read from a header, a
query parameter or the URL (with and without strip_path), the default version, expiry, a version's own upstream
(override_target) and its legacy ``paths`` lists. What the upstream's echo saw proves where a request went.
"""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.gateways import FileGateway, keyed, store_key

KEY = "versions-test-key"
PAST, FUTURE = "2020-01-01 00:00", "2099-12-31 23:59"
EXPIRED = {"error": "Api Version has expired, please check documentation or contact administrator"}
UNKNOWN = {"error": "This API version does not seem to exist"}
NOT_FOUND = {"error": "Version information not found"}
FORBIDDEN = {"error": "Requested endpoint is forbidden"}


def keyless(api_id: str, target: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target, "strip_listen_path": True}, **fields}


def versioned(location: str, key: str, versions: dict, default: str = "", **location_fields) -> dict:
    return {"definition": {"location": location, "key": key, **location_fields},
            "version_data": {"not_versioned": False, "default_version": default, "versions": versions}}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, redis_proc, upstream):
    if redis_proc.process is None or redis_proc.process.poll() is not None:
        redis_proc.start()
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis.Redis.from_url(redis_url).flushall()
    target = f"http://127.0.0.1:{upstream.port}/"
    versions = {"v1": {"expires": PAST}, "v2": {"expires": FUTURE},
                "v3": {"override_target": f"http://127.0.0.1:{upstream.port}/v3base/"}}
    legacy = {"white_list": ["/items", "/open"], "black_list": ["/items/secret"], "ignored": ["/open"]}
    definitions = [
        keyless("header", target, **versioned("header", "x-api-version", versions, default="v2")),
        keyless("param", target, **versioned("url-param", "version", versions)),
        keyless("url", target, **versioned("url", "", versions)),
        keyless("url-strip", target, **versioned("url", "", versions, strip_path=True)),
        keyed("paths", "/paths/", target, **versioned("header", "x-api-version", {
            "v1": {"paths": legacy}, "v2": {"use_extended_paths": True, "paths": legacy}}, default="v1")),
        keyless("unversioned-expired", target,
                version_data={"not_versioned": True, "versions": {"Default": {"expires": PAST}}}),
        keyless("unversioned-override", target, version_data={"not_versioned": True, "versions": {
            "Default": {"override_target": f"http://127.0.0.1:{upstream.port}/elsewhere"}}}),
    ]
    store_key(redis_url, KEY, {"access_rights": {"paths": {"api_id": "paths", "versions": ["v1", "v2"]}}})
    started = FileGateway(tmp_path_factory.mktemp("versions"), redis_url)
    for definition in definitions:
        started.write_api(definition)
    yield started.start()
    started.stop()


V = "x-api-version"
AUTH = {"authorization": KEY}


@pytest.mark.parametrize(
    ("case", "path", "headers", "status", "upstream_path_or_error"),
    [
        ("header: the default version", "/header/items", {}, 200, "/items"),
        ("header: a live version", "/header/items", {V: "v2"}, 200, "/items"),
        ("header: an expired version", "/header/items", {V: "v1"}, 403, EXPIRED),
        ("header: an unknown version", "/header/items", {V: "v9"}, 403, UNKNOWN),
        ("header: the version's own upstream", "/header/items", {V: "v3"}, 200, "/v3base/items"),
        ("url-param: a live version", "/param/items?version=v2", {}, 200, "/items"),
        ("url-param: expired", "/param/items?version=v1", {}, 403, EXPIRED),
        ("url-param: none and no default", "/param/items", {}, 403, NOT_FOUND),
        ("url-param: own upstream", "/param/items?version=v3", {}, 200, "/v3base/items"),
        ("url: the segment is sent upstream", "/url/v2/items", {}, 200, "/v2/items"),
        ("url: expired", "/url/v1/items", {}, 403, EXPIRED),
        ("url: the first segment is no version", "/url/items", {}, 403, UNKNOWN),
        ("url: own upstream", "/url/v3/items", {}, 200, "/v3base/v3/items"),
        ("url + strip_path: the segment is not sent", "/url-strip/v2/items/7", {}, 200, "/items/7"),
        ("url + strip_path: the version alone", "/url-strip/v2", {}, 200, "/"),
        ("url + strip_path: own upstream", "/url-strip/v3/items", {}, 200, "/v3base/items"),
        ("url + strip_path: expired", "/url-strip/v1/items", {}, 403, EXPIRED),
        ("paths: ignored needs no key", "/paths/open", {}, 200, "/open"),
        ("paths: white-listed needs a key", "/paths/items", {}, 401, {"error": "Authorization field missing"}),
        ("paths: white-listed with a key", "/paths/items", AUTH, 200, "/items"),
        ("paths: black-listed", "/paths/items/secret", AUTH, 403, FORBIDDEN),
        ("paths: not on the white list", "/paths/other", AUTH, 403, FORBIDDEN),
        ("paths: use_extended_paths leaves them unread", "/paths/other", {**AUTH, V: "v2"}, 200, "/other"),
        ("unversioned: the Default version expired", "/unversioned-expired/items", {}, 403, EXPIRED),
        ("unversioned: the Default version's upstream", "/unversioned-override/items", {}, 200, "/elsewhere/items"),
    ],
)
def test_versions(gateway, case, path, headers, status, upstream_path_or_error):
    reply = httpx.get(gateway.url + path, headers=headers)
    assert reply.status_code == status, reply.text
    if status == 200:
        assert reply.json()["path"] == upstream_path_or_error  # the upstream's echo
    else:
        assert reply.json() == upstream_path_or_error
