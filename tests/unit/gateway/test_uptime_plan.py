"""Which uptime checks a set of APIs asks for, and how often each runs."""

from __future__ import annotations

from tollhouse.core.apidef import parse_definition
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.uptime import planned_checks


def api(api_id: str, checks: list[dict], recheck_wait: float = 0):
    raw = {"api_id": api_id, "name": api_id, "use_keyless": True,
           "proxy": {"listen_path": f"/{api_id}/", "target_url": "http://up:8000"},
           "uptime_tests": {"check_list": checks, "config": {"recheck_wait": recheck_wait}}}
    return compile_api(parse_definition(raw), raw)


def test_a_check_listed_by_several_apis_runs_once_at_the_shortest_interval():
    shared = {"url": "http://up:8000/health"}
    plan = planned_checks([api("a", [shared], recheck_wait=30), api("b", [shared, {"url": "http://up:9000/h"}])],
                          default_every=10)
    assert sorted((check.url, every) for check, every in plan.items()) == [
        ("http://up:8000/health", 10), ("http://up:9000/h", 10)]
    assert {check.host for check in plan} == {("up", 8000), ("up", 9000)}


def test_checks_that_differ_in_method_headers_or_body_are_separate():
    plan = planned_checks([api("a", [{"url": "http://up/h"}, {"url": "http://up/h", "method": "HEAD"},
                                     {"url": "http://up/h", "headers": {"x": "1"}},
                                     {"url": "http://up/h", "body": "aGk="}], recheck_wait=2)], default_every=10)
    assert len(plan) == 4 and set(plan.values()) == {2}
    assert {check.host for check in plan} == {("up", 80)}
