from dataclasses import dataclass

import pytest

from tollhouse.gateway.router import Router


@dataclass(frozen=True)
class Api:
    name: str
    listen_path: str
    domain: str = ""


ROUTER = Router(
    [
        Api("root", "/"),
        Api("a", "/a/"),
        Api("ab", "/a/b/"),
        Api("abc", "/a/b/c/"),
        Api("foo", "/foo/"),
        Api("host-a", "/a/", "api.example.test"),
        Api("host-port", "/p/", "api.example.test:8080"),
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("", "/a", "a"),
        ("", "/a/", "a"),
        ("", "/a/x", "a"),
        ("", "/a/b", "ab"),
        ("", "/a/b/x/y", "ab"),
        ("", "/a/b/c/d", "abc"),
        ("", "/foobar", "root"),  # a listen path matches whole segments only
        ("", "/foo", "foo"),
        ("", "/a//b", "a"),
        ("", "/elsewhere", "root"),
        ("API.example.test", "/a/x", "host-a"),  # host routing is case-insensitive
        ("api.example.test:8080", "/a/x", "host-a"),  # port is ignored when the domain has none
        ("api.example.test:8080", "/p/x", "host-port"),
        ("api.example.test", "/a/b/x", "host-a"),  # the host's table wins over a longer any-host path
        ("api.example.test", "/foo/x", "foo"),  # falls back to any-host APIs
        ("other.test", "/a/x", "a"),
    ],
)
def test_match(host, path, expected):
    assert ROUTER.match(host, path).name == expected


def test_no_match_without_root():
    router = Router([Api("a", "/a/")])
    assert router.match("", "/b") is None
    assert router.match("", "/") is None
    assert len(router) == 1
