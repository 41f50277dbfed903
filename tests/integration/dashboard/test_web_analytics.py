"""The analytics screens: the chart with its breakdowns and the log browser, over records written by the pump's
own sinks (the data set of test_analytics.py): numbers, filters, links, bad filters, escaping, permissions."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tests.analytics_data import record_at
from tests.integration.dashboard.conftest import USER_PASSWORD, add_user
from tests.integration.dashboard.test_analytics import at, loaded, org_id, write_through_the_pump_sinks
from tests.integration.dashboard.test_web import signed_in_home, web_login
from tollhouse.core.aggregates import iso
from tollhouse.dashboard.app import create_app

__all__ = ["loaded", "org_id"]  # fixtures shared with test_analytics.py


def local(moment: datetime) -> str:
    """As a datetime-local input sends it."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def custom(start: datetime, end: datetime, **more) -> dict:
    return {"range": "custom", "from": local(start), "to": local(end), **more}


def show(client, path: str = "/analytics", expect: int = 200, **params) -> str:
    reply = client.get(path, params=params)
    assert reply.status_code == expect, reply.text
    return reply.text


def points(text: str) -> list[tuple[str, int, int]]:
    return [(t, int(requests), int(errors)) for t, requests, errors in re.findall(
        r'data-testid="chart-point" data-t="([^"]+)" data-requests="(\d+)" data-errors="(\d+)"', text)]


def by_testid(text: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', text, re.S)
    assert match, f"no {name}"
    return html.unescape(match.group(1)).strip()


def table(text: str, name: str) -> str:
    """The element with this data-testid (a table, or a breakdown's section), up to its table's end."""
    match = re.search(rf'<(table|section)[^>]*data-testid="{name}".*?</\1>', text, re.S)
    assert match, f"no {name}"
    return match.group(0)


def log_rows(text: str) -> list[str]:
    return re.findall(r'<tr data-testid="log-row".*?</tr>', text, re.S)


def row_statuses(text: str) -> list[int]:
    return [int(status) for status in re.findall(r'data-testid="log-status">(\d+)<', text)]


def links(text: str, name: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(rf'href="([^"]+)"[^>]* data-testid="{name}"', text)]


@pytest.fixture
def signed_in(client):
    signed_in_home(client)
    return client


def test_pages_need_a_session(client):
    for path in ("/analytics", "/analytics/logs?status=404"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/analytics")


@pytest.mark.parametrize(("access", "expected"), [("none", 403), ("read", 200), ("write", 200)])
def test_pages_need_analytics_read(client, auth, access, expected):
    add_user(client, auth, f"analytics-{access}@example.test", {"analytics": access, "apis": "read"})
    client.cookies.clear()
    assert web_login(client, f"analytics-{access}@example.test", USER_PASSWORD).status_code == 303
    for path in ("/analytics", "/analytics/logs"):
        reply = client.get(path)
        assert reply.status_code == expected, path
        if expected == 403:
            assert "read access to analytics" in reply.text
    home = client.get("/").text
    assert ('href="/analytics"' in home) == (expected == 200)


def test_the_chart_points_and_totals_are_the_aggregates(signed_in, loaded):
    text = show(signed_in, **custom(at(0), at(3), granularity="minute"))
    # Three minutes; the other organisation's five requests at 0:30 are not counted.
    assert points(text) == [(iso(at(0)), 2, 1), (iso(at(1)), 1, 1), (iso(at(2)), 3, 0)]
    assert by_testid(text, "total-requests") == "6" and by_testid(text, "total-errors") == "2"
    assert '<svg data-testid="chart"' in text and 'class="p50"' in text and 'class="p95"' in text
    # The same numbers in the table under the chart, with the latency of each bucket.
    numbers = table(text, "chart-table")
    assert numbers.count('data-testid="chart-row"') == 3
    first = re.search(r'data-testid="chart-row".*?</tr>', numbers, re.S).group(0)
    cells = re.findall(r"<td>([^<]*)</td>", first)
    assert cells[1:3] == ["2", "1"] and 8 <= float(cells[3]) <= 10 and 16 <= float(cells[4]) <= 20


def test_the_default_is_the_last_24_hours_per_hour(signed_in, loaded):
    text = show(signed_in)
    assert by_testid(text, "total-requests") == "7" and "per hour" in by_testid(text, "window")
    assert len(points(text)) in (24, 25)
    assert by_testid(show(signed_in, range="1h"), "total-requests") == "0"  # the data is 2 hours old and more
    assert "per minute" in by_testid(show(signed_in, range="1h"), "window")


def test_filtering_by_api_and_the_breakdowns(signed_in, loaded):
    text = show(signed_in, **custom(at(0), at(120)))
    by_api = table(text, "breakdown-api")
    assert re.findall(r'data-testid="filter-api">([^<]+)<', by_api) == ["Orders", "Users"]
    assert re.findall(r"<td>(\d+)</td>", by_api) == ["4", "2", "3", "0"]
    assert "GET /orders/{id}" in table(text, "breakdown-endpoint")
    assert re.findall(r"<td>\s*(\d{3})\s*</td>", table(text, "breakdown-status")) == ["200", "404", "500"]
    assert "k1" in table(text, "breakdown-key") and "k2" in table(text, "breakdown-key")
    # An API row filters the chart by that API, keeping the window.
    [orders, _users] = links(by_api, "filter-api")
    filtered = signed_in.get(orders).text
    assert by_testid(filtered, "total-requests") == "4" and by_testid(filtered, "total-errors") == "2"
    assert 'value="api-1" selected' in filtered
    # A status row opens the log browser filtered by that status.
    [_ok, not_found, _failed] = links(table(text, "breakdown-status"), "logs-link")
    assert row_statuses(signed_in.get(not_found).text) == [404]


def test_a_key_row_links_to_the_log_browser_and_the_chart_by_key_has_no_latency(signed_in, loaded):
    text = show(signed_in, **custom(at(0), at(120)))
    logs_of_k2 = [link for link in links(table(text, "breakdown-key"), "logs-link") if "key_hash=k2" in link]
    assert len(logs_of_k2) == 1 and logs_of_k2[0].startswith("/analytics/logs?")
    assert row_statuses(signed_in.get(logs_of_k2[0]).text) == [500]
    by_key = show(signed_in, **custom(at(0), at(3), granularity="minute", key_hash="k1"))
    assert points(by_key) == [(iso(at(0)), 2, 1), (iso(at(1)), 0, 0), (iso(at(2)), 3, 0)]
    assert 'class="p50"' not in by_key and "not kept per key" in by_key
    assert 'data-testid="breakdown-endpoint-unavailable"' in by_key
    assert 'data-testid="breakdown-status-unavailable"' in by_key
    assert "k1" in table(by_key, "breakdown-key") and 'class="active"' in by_key


def test_the_page_says_what_the_aggregates_cannot_answer(signed_in, loaded):
    limits = by_testid(show(signed_in), "limits")
    assert "What these numbers cannot tell" in limits
    text = show(signed_in)
    assert "not per key" in text and "not counted per key" in text and "(other)" in text


@pytest.mark.parametrize(("params", "field", "expected"), [
    ({"range": "7d", "granularity": "minute"}, "granularity", "longer than 2 days, the most for per minute"),
    ({"range": "custom", "from": "2026-11-26T11:00", "to": "2026-11-26T10:00"}, "from", "must be before to"),
    ({"range": "custom", "from": "yesterday"}, "from", "must be a date and time"),
    ({"range": "custom", "to": "2026-13-01T00:00"}, "to", "must be a date and time"),
    ({"range": "custom", "from": "2020-01-01T00:00", "to": "2026-01-01T00:00"}, "from", "longer than 400 days"),
    ({"range": "fortnight"}, "range", "choose one of the ranges"),
    ({"granularity": "day"}, "granularity", "choose per minute, per hour"),
])
def test_bad_chart_filters_are_shown_next_to_the_field(signed_in, loaded, params, field, expected):
    text = show(signed_in, expect=400, **params)
    assert expected in by_testid(text, f"error-{field}")
    assert 'data-testid="chart"' not in text and 'data-testid="filter-errors"' in text
    for name, value in params.items():
        if name in ("from", "to"):
            assert f'value="{value}"' in text, "the typed value is kept"


def test_a_from_or_to_without_a_range_means_custom(signed_in, loaded):
    reply = signed_in.get("/analytics", params={"from": local(at(0)), "to": local(at(3)), "granularity": "minute"})
    assert reply.status_code == 200 and [point[1] for point in points(reply.text)] == [2, 1, 3]
    assert '<option value="custom" selected>' in reply.text


def test_the_log_browser_newest_first_with_filters(signed_in, loaded):
    window = custom(at(0), at(120))
    text = show(signed_in, "/analytics/logs", **window)
    mine = sorted((record for record in loaded if record["org_id"] != "other-org"),
                  key=lambda record: record["timestamp"], reverse=True)
    assert row_statuses(text) == [record["response_code"] for record in mine]
    first = log_rows(text)[0]
    assert "Orders" in first and "POST" in first and "/orders" in first and "<td>5</td>" in first
    assert mine[0]["timestamp"].replace("T", " ").replace("Z", "") in first
    key_cell = log_rows(text)[-1]  # a k1 request; shortened, in full in the title
    assert 'title="k1"' in key_cell
    assert sorted(row_statuses(show(signed_in, "/analytics/logs", status="404", **window))) == [404]
    assert sorted(row_statuses(show(signed_in, "/analytics/logs", errors_only="on", **window))) == [404, 500]
    assert sorted(row_statuses(show(signed_in, "/analytics/logs", api_id="api-1", key_hash="k1", **window))) == [
        200, 404]
    empty = show(signed_in, "/analytics/logs", status="200", errors_only="on", **window)
    assert 'data-testid="no-logs"' in empty and 'data-testid="log-list"' not in empty
    assert 'value="200"' in empty and "errors_only\" type=\"checkbox\" checked" in empty


def test_the_log_browser_pages(settings, loaded):
    with TestClient(create_app(settings.model_copy(update={"analytics_log_page_size": 3}))) as client:
        signed_in_home(client)
        text = show(client, "/analytics/logs", **custom(at(0), at(120)))
        seen = row_statuses(text)
        assert len(seen) == 3 and 'data-testid="previous-page"' not in text
        for _ in range(2):
            [older] = links(text, "next-page")
            text = client.get(older).text
            seen += row_statuses(text)
        assert len(seen) == 7 and 'data-testid="next-page"' not in text
        [newer] = links(text, "previous-page")
        assert "p=2" in newer and len(row_statuses(client.get(newer).text)) == 3


@pytest.mark.parametrize(("params", "field", "expected"), [
    ({"status": "abc"}, "status", "a number from 100 to 999"),
    ({"status": "42"}, "status", "a number from 100 to 999"),
    ({"range": "custom", "from": "2026-11-26T11:00", "to": "2026-11-26T10:00"}, "from", "must be before to"),
    ({"range": "custom", "to": "soon"}, "to", "must be a date and time"),
    ({"p": "0"}, "p", "the page must be a number"),
])
def test_bad_log_filters_are_shown_next_to_the_field(signed_in, loaded, params, field, expected):
    text = show(signed_in, "/analytics/logs", expect=400, **params)
    assert expected in by_testid(text, f"error-{field}")
    assert 'data-testid="log-list"' not in text and 'data-testid="filter-errors"' in text
    if "status" in params:
        assert f'value="{params["status"]}"' in text


def test_names_are_escaped(signed_in, auth, org_id, mongo_url, mongo_db_name):
    evil = "<script>alert(1)</script>"
    reply = signed_in.post("/api/apis", headers=auth, json={"api_definition": {
        "name": evil, "use_keyless": True, "proxy": {"listen_path": "/evil/", "target_url": "http://127.0.0.1:9/"}}})
    assert reply.status_code == 200, reply.text
    api_id = reply.json()["Meta"]
    records = [record_at(at(0.5), api_id=api_id, api_name=evil, org_id=org_id, status=500, key=evil,
                         path="/evil/<b>")]
    asyncio.run(write_through_the_pump_sinks(mongo_url, mongo_db_name, records))
    for text in (show(signed_in, **custom(at(0), at(3))), show(signed_in, "/analytics/logs", **custom(at(0), at(3))),
                 show(signed_in, key_hash=evil, **custom(at(0), at(3)))):
        assert "<script>alert(1)" not in text and "<b>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert by_testid(show(signed_in, api_id=api_id, **custom(at(0), at(3))), "total-requests") == "1"

