import asyncio
import json

import pytest

from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.loader import DirectorySource, SourceError, compile_definitions


def raw(api_id, listen_path="/x/", **extra):
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": listen_path, "target_url": "http://127.0.0.1:9/"}, **extra}


def test_invalid_definition_rejected_others_load():
    report = compile_definitions([raw("good", "/g/"), raw("bad", "nope"), "junk"], {})
    assert [api.api_id for api in report.apis] == ["good"]
    assert "proxy.listen_path" in report.rejected["bad"]
    assert "definition #2" in report.rejected


def test_invalid_update_keeps_the_previous_version():
    first = compile_definitions([raw("a", "/a/")], {})
    previous = {api.api_id: api for api in first.apis}
    second = compile_definitions([raw("a", "broken")], previous)
    assert second.apis == first.apis
    assert second.kept_previous == ["a"]


def test_duplicate_listen_path_rejected():
    report = compile_definitions([raw("a", "/same"), raw("b", "/same/")], {})
    assert [api.api_id for api in report.apis] == ["a"]
    assert "already served by API a" in report.rejected["b"]


def test_inactive_api_not_served():
    assert compile_definitions([raw("a", active=False)], {}).apis == []


@pytest.mark.parametrize(
    ("target", "listen", "strip", "path", "query", "expected"),
    [
        ("http://u/", "/api/", True, "/api/hello", "", "/hello"),
        ("http://u/", "/api/", True, "/api", "", "/"),
        ("http://u/base/", "/api/", True, "/api/x/y", "q=1", "/base/x/y?q=1"),
        ("http://u", "/api/", False, "/api/x", "", "/api/x"),
        ("http://u/base", "/api", False, "/api/x", "a=b&c", "/base/api/x?a=b&c"),
    ],
)
def test_upstream_target(target, listen, strip, path, query, expected):
    definition = raw("a", listen)
    definition["proxy"].update(target_url=target, strip_listen_path=strip)
    api = compile_definitions([definition], {}).apis[0]
    assert api.upstream_target(path, query) == expected


@pytest.mark.parametrize(
    ("target", "host", "port", "host_header"),
    [
        ("http://h/", "h", 80, "h"),
        ("https://h/", "h", 443, "h"),
        ("http://h:8080/", "h", 8080, "h:8080"),
        ("http://[::1]:81/", "::1", 81, "[::1]:81"),
    ],
)
def test_target_parsed_once(target, host, port, host_header):
    from tollhouse.core.apidef import parse_definition

    definition = raw("a")
    definition["proxy"]["target_url"] = target
    compiled = compile_api(parse_definition(definition), definition)
    assert (compiled.target.host, compiled.target.port, compiled.target.host_header) == (host, port, host_header)


def test_directory_source(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(raw("a")))
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [d["api_id"] for d in asyncio.run(DirectorySource(tmp_path).fetch())] == ["a"]
    with pytest.raises(SourceError):
        asyncio.run(DirectorySource(tmp_path / "missing").fetch())
