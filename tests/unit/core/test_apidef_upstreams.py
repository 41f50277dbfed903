"""The upstream fields of a definition: what is accepted, and the dotted field named for what is not."""

from __future__ import annotations

import pytest

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.core.apidef_upstreams import upstream_rules_apply


def definition(proxy=None, extended_paths=None, **fields) -> dict:
    return {"api_id": "a", "name": "a", "use_keyless": True,
            "proxy": {"listen_path": "/a/", "target_url": "http://up:8000", **(proxy or {})},
            "version_data": {"not_versioned": True, "versions": {"Default": {"extended_paths": extended_paths or {}}}},
            **fields}


BREAKER = {"path": "/x", "method": "GET", "threshold_percent": 0.5, "samples": 4, "return_to_service_after": 5}


@pytest.mark.parametrize(("raw", "field", "message"), [
    (definition({"enable_load_balancing": True}), "proxy.target_list", "needs at least one URL"),
    (definition({"target_list": ["http://ok", "up:8000"]}), "proxy.target_list", "entry 1 ('up:8000') must be"),
    (definition({"target_list": ["http://up/?q=1"]}), "proxy.target_list", "must not carry a query"),
    (definition(uptime_tests={"check_list": [{"url": "/health"}]}), "uptime_tests.check_list.0.url", "absolute"),
    (definition(uptime_tests={"check_list": [{"url": "http://up/h", "method": "GE T"}]}),
     "uptime_tests.check_list.0.method", "HTTP method"),
    (definition(uptime_tests={"check_list": [{"url": "http://up/h", "body": "%%"}]}),
     "uptime_tests.check_list.0.body", "base64"),
    (definition(uptime_tests={"config": {"recheck_wait": -1}}), "uptime_tests.config.recheck_wait", ""),
    (definition(extended_paths={"hard_timeouts": [{"path": "/x", "timeout": 0}]}),
     "version_data.versions.Default.extended_paths.hard_timeouts.0.timeout", "greater than 0"),
    (definition(extended_paths={"hard_timeouts": [{"path": "/x(", "timeout": 1}]}),
     "version_data.versions.Default.extended_paths.hard_timeouts.0.path", "regular expression"),
    (definition(extended_paths={"hard_timeouts": {"path": "/x"}}),
     "version_data.versions.Default.extended_paths.hard_timeouts", "must be a list"),
    (definition(extended_paths={"circuit_breakers": [{**BREAKER, "threshold_percent": 50}]}),
     "version_data.versions.Default.extended_paths.circuit_breakers.0.threshold_percent", "less than or equal to 1"),
    (definition(extended_paths={"circuit_breakers": [{**BREAKER, "samples": 0}]}),
     "version_data.versions.Default.extended_paths.circuit_breakers.0.samples", ""),
    (definition(extended_paths={"circuit_breakers": [{k: v for k, v in BREAKER.items() if k != "samples"}]}),
     "version_data.versions.Default.extended_paths.circuit_breakers.0.samples", "is required"),
])
def test_bad_upstream_fields_name_the_field(raw, field, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw)
    assert caught.value.field == field
    assert message in str(caught.value)


@pytest.mark.parametrize(("raw", "rules"), [
    (definition(), False),
    (definition(uptime_tests={"check_list": [{"url": "http://up/h"}]}), False),  # checks alone change no traffic
    (definition({"enable_load_balancing": True, "target_list": ["http://a", "http://b"]}), True),
    (definition({"check_host_against_uptime_tests": True}), True),
    (definition(extended_paths={"hard_timeouts": [{"path": "/x", "timeout": 2}]}), True),
    (definition(extended_paths={"hard_timeouts": [{"path": "/x", "timeout": 2, "disabled": True}]}), False),
    (definition(extended_paths={"circuit_breakers": [BREAKER]}), True),
])
def test_only_apis_with_upstream_rules_leave_the_plain_proxy(raw, rules):
    assert upstream_rules_apply(parse_definition(raw)) is rules


def test_tyk_fields_are_read_as_tyk_writes_them():
    parsed = parse_definition(definition(
        {"enable_load_balancing": True, "target_list": ["http://a:1", "https://b/base"]},
        uptime_tests={"check_list": [{"url": "http://a:1/h", "method": "post", "headers": {"x": "y"},
                                      "body": "aGk=", "timeout": 2_000_000_000}],
                      "config": {"expire_utime_after": 60, "recheck_wait": 3}}))
    check = parsed.uptime_tests.check_list[0]
    assert (check.method, check.body_bytes, check.timeout_seconds) == ("POST", b"hi", 2.0)
    assert parsed.uptime_tests.config.recheck_wait == 3
