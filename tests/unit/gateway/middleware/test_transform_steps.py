"""The transform steps on their own (endpoint rules, headers, rewrites, size limits), and which enter a chain.

Through a real gateway and upstream: tests/integration/test_transforms.py.
"""

import asyncio
import base64

import pytest

from tollhouse.core.apidef import parse_definition
from tollhouse.core.session import SessionState
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.context_vars import expand
from tollhouse.gateway.http.messages import BodyStream, Request
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.middleware.endpoint_rules import EndpointRules, MockReply, SkipWhenIgnored
from tollhouse.gateway.middleware.header_transform import HeaderEdit, TransformRequestHeaders
from tollhouse.gateway.middleware.method_transform import TransformMethod
from tollhouse.gateway.middleware.size_limit import LimitedBody, LimitRequestSize, RequestTooLarge
from tollhouse.gateway.middleware.url_rewrite import RewriteUrl
from tollhouse.gateway.pipeline import PipelineDeps, build_pipeline


def compiled(extended: dict | None = None, versioned: bool = False, **version):
    versions = {"v1": {"extended_paths": extended or {}, **version}, "v2": {}} if versioned else \
        {"Default": {"extended_paths": extended or {}, **version}}
    raw = {"api_id": "a", "name": "a", "use_keyless": True,
           "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9/"},
           "version_data": {"not_versioned": not versioned, "versions": versions}}
    return compile_api(parse_definition(raw), raw)


def context(api, method="GET", target="/a/x", headers=(), version="", body=b"", chunked=False, meta=None):
    request = Request(method, target, "1.1", list(headers), client_ip="10.1.2.3",
                      body=BodyStream.from_bytes(body), content_length=None if chunked else len(body),
                      chunked=chunked)
    ctx = RequestContext(request, None, api, version=version)
    if meta is not None:
        ctx.session = SessionState(meta_data=meta)
    return ctx


def run(step, ctx):
    asyncio.run(step(ctx))
    return ctx


RULES = {
    "ignored": [{"path": "/open", "method_actions": {"GET": {"action": "no_action"}}}],
    "black_list": [{"path": "/open/but-not-this", "method": "GET"}, {"path": "/users/{id}/delete"}],
    "white_list": [{"path": "/users/{id}$", "method_actions": {"GET": {}, "PUT": {}}},
                   {"path": "/open/but-not-this"},
                   {"path": "/fake", "method_actions": {"GET": {"action": "reply", "code": 418, "data": "tea"}}}],
}


@pytest.mark.parametrize(
    ("method", "path", "outcome"),
    [
        ("GET", "/open", "ignored"),
        ("GET", "/open/but-not-this", "ignored"),  # the ignored list is looked at first; its prefix matches
        ("POST", "/open", 403),  # not the ignored entry's method, and not white-listed
        ("GET", "/users/7", "on"),
        ("PUT", "/users/7", "on"),
        ("DELETE", "/users/7", 403),
        ("GET", "/users/7/delete", 403),  # black list
        ("GET", "/users/7/extra", 403),  # the white-list entry ends with $
        ("GET", "/fake", "mock"),
        ("GET", "/elsewhere", 403),  # white-listing: everything else is refused
    ],
)
def test_endpoint_rules(method, path, outcome):
    rules = EndpointRules(compiled(RULES))
    ctx = context(rules.api, method, "/a" + path)
    if isinstance(outcome, int):
        with pytest.raises(GatewayError) as caught:
            run(rules, ctx)
        assert (caught.value.status, caught.value.message) == (outcome, "Requested endpoint is forbidden")
        return
    run(rules, ctx)
    assert ctx.auth_skipped == (outcome == "ignored")
    assert (ctx.mock is not None) == (outcome == "mock")


def test_rules_follow_the_version_asked_for():
    rules = EndpointRules(compiled({"black_list": [{"path": "/x"}]}, versioned=True))
    with pytest.raises(GatewayError):
        run(rules, context(rules.api, version="v1"))
    run(rules, context(rules.api, version="v2"))  # v2 has no lists


def test_skipped_steps_only_when_ignored():
    calls = []

    async def step(ctx):
        calls.append(ctx.auth_skipped)

    skipping = SkipWhenIgnored(step)
    api = compiled()
    run(skipping, context(api))
    ignored = context(api)
    ignored.auth_skipped = True
    run(skipping, ignored)
    assert calls == [False]


def test_mock_reply_without_a_reply_action_passes_on():
    run(MockReply(), context(compiled()))  # ctx.mock None: nothing is sent (ctx.response is None here)


@pytest.mark.parametrize(
    ("headers", "edit", "expected"),
    [
        ([("x-a", "1"), ("x-b", "2")], HeaderEdit.of(["X-A"], {}), [("x-b", "2")]),
        ([("x-a", "1")], HeaderEdit.of([], {"X-A": "new", "X-C": "3"}), [("x-a", "new"), ("x-c", "3")]),
        ([("x-a", "1"), ("x-a", "2")], HeaderEdit.of([], {"x-A": "one"}), [("x-a", "one")]),
        ([("x-client", "c1")], HeaderEdit.of([], {"X-Copy": "id=$tyk_context.headers_X_Client"}),
         [("x-client", "c1"), ("x-copy", "id=c1")]),
    ],
)
def test_header_edits(headers, edit, expected):
    assert edit.apply(headers, context(compiled(), headers=headers)) == expected


def test_request_header_transform_uses_globals_then_the_path_entry():
    step = TransformRequestHeaders(compiled(
        {"transform_headers": [{"path": "/x", "add_headers": {"X-Path": "p"}, "delete_headers": ["X-G"]}]},
        global_headers={"X-G": "g", "X-Meta": "$tyk_meta.team"}, global_headers_remove=["Cookie"]))
    ctx = run(step, context(step.api, target="/a/x", headers=[("cookie", "c")], meta={"team": "blue"}))
    assert ctx.request.headers == [("x-meta", "blue"), ("x-path", "p")]
    ctx = run(step, context(step.api, target="/a/y", headers=[("cookie", "c")]))
    assert ctx.request.headers == [("x-g", "g"), ("x-meta", "")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$tyk_context.headers_X_Client", "c1"),
        ("$tyk_context.request_data.q", "5"),
        ("$tyk_context.path|$tyk_context.remote_addr", "/a/x|10.1.2.3"),
        ("$tyk_meta.team/$tyk_meta.none", "blue/"),
        ("$tyk_context.unknown", ""),
        ("no variables", "no variables"),
    ],
)
def test_context_variables(text, expected):
    ctx = context(compiled(), target="/a/x?q=5", headers=[("x-client", "c1")], meta={"team": "blue"})
    assert expand(text, ctx) == expected


def rewrite(target, triggers=(), headers=(), body=b"", method="GET", meta=None):
    step = RewriteUrl(compiled({"url_rewrites": [
        {"path": "/", "match_pattern": r"^/items/(\d+)", "rewrite_to": "/v2/items/$1?from=$2",
         "triggers": list(triggers)}]}))
    ctx = run(step, context(step.api, method, target, headers, body=body, meta=meta))
    return ctx.request.path, ctx.request.query


@pytest.mark.parametrize(
    ("target", "triggers", "headers", "meta", "expected"),
    [
        ("/a/items/12?x=1", [], [], None, ("/a/v2/items/12", "from=")),  # $2: no such group -> ""
        ("/a/other?x=1", [], [], None, ("/a/other", "x=1")),  # match_pattern does not match: untouched
        ("/a/items/12", [{"on": "any", "options": {"session_meta_matches": {"tier": {"match_rx": "^(gold)$"}}},
                          "rewrite_to": "/vip/$tyk_context.trigger-0-tier-1"}], [], {"tier": "gold"},
         ("/a/vip/gold", "")),
        ("/a/items/12", [{"on": "any", "options": {"session_meta_matches": {"tier": {"match_rx": "^gold$"}}},
                          "rewrite_to": "/vip"}], [], {"tier": "tin"}, ("/a/v2/items/12", "from=")),
        ("/a/items/12?a=1", [{"on": "all", "options": {"query_val_matches": {"a": {"match_rx": "1"}},
                                                       "header_matches": {"X-H": {"match_rx": "h"}}},
                              "rewrite_to": "/both"}], [("x-h", "h")], None, ("/a/both", "a=1")),
        ("/a/items/12?a=1", [{"on": "all", "options": {"query_val_matches": {"a": {"match_rx": "1"}},
                                                       "header_matches": {"X-H": {"match_rx": "h"}}},
                              "rewrite_to": "/both"}], [], None, ("/a/v2/items/12", "from=")),
        ("/a/items/12", [{"on": "any", "options": {"path_part_matches": {"p": {"match_rx": "^1(2)$"}}},
                          "rewrite_to": "/part/$tyk_context.trigger-0-p-0/$tyk_context.trigger-0-p-1"}], [], None,
         ("/a/part/12/2", "")),
    ],
)
def test_url_rewrites(target, triggers, headers, meta, expected):
    assert rewrite(target, triggers, headers, meta=meta) == expected


def test_method_transform():
    step = TransformMethod(compiled({"method_transforms": [{"path": "/x", "method": "GET", "to_method": "put"}]}))
    assert run(step, context(step.api, "GET", "/a/x")).request.method == "PUT"
    assert run(step, context(step.api, "POST", "/a/x")).request.method == "POST"


def test_size_limit_by_content_length_and_the_smaller_limit_wins():
    step = LimitRequestSize(compiled({"size_limits": [{"path": "/x", "size_limit": 5}]}, global_size_limit=8))
    run(step, context(step.api, "POST", "/a/x", body=b"12345"))
    with pytest.raises(GatewayError) as caught:
        run(step, context(step.api, "POST", "/a/x", body=b"123456"))
    assert (caught.value.status, caught.value.message) == (413, "Request is too large")
    run(step, context(step.api, "POST", "/a/y", body=b"12345678"))
    with pytest.raises(GatewayError):
        run(step, context(step.api, "POST", "/a/y", body=b"123456789"))


def test_a_chunked_body_fails_once_past_the_limit():
    async def read_all(body):
        return [chunk async for chunk in body]

    assert asyncio.run(read_all(LimitedBody(BodyStream.from_bytes(b"abcd"), 4))) == [b"abcd"]
    with pytest.raises(RequestTooLarge) as caught:
        asyncio.run(read_all(LimitedBody(BodyStream.from_bytes(b"abcde"), 4)))
    assert caught.value.status == 413


def test_only_what_an_api_uses_enters_its_chain():
    deps = PipelineDeps(upstreams=UpstreamPool(), keys=None, policies=lambda: None)
    plain = {type(step).__name__ for step in build_pipeline(compiled(), deps)}
    everything = compiled({
        "white_list": [{"path": "/m", "method_actions": {"GET": {"action": "reply"}}}],
        "size_limits": [{"path": "/x", "size_limit": 1}],
        "transform_headers": [{"path": "/x", "add_headers": {"X-A": "1"}}],
        "transform_response_headers": [{"path": "/x", "add_headers": {"X-A": "1"}}],
        "method_transforms": [{"path": "/x", "to_method": "PUT"}],
        "url_rewrites": [{"path": "/x", "match_pattern": ".*", "rewrite_to": "/y"}],
        "transform": [{"path": "/x", "template_data": {"template_source": base64.b64encode(b"{}").decode()}}],
        "transform_response": [{"path": "/x", "template_data": {"template_source": base64.b64encode(b"{}").decode()}}],
    })
    names = [type(step).__name__ for step in build_pipeline(everything, deps)]
    mine = ["EndpointRules", "LimitRequestSize", "TransformRequestBody", "TransformRequestHeaders",
            "TransformResponseHeaders", "TransformResponseBody", "TransformMethod", "RewriteUrl", "MockReply"]
    assert not plain & set(mine)
    assert [name for name in names if name in mine] == mine
