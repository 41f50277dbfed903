"""The analytics screens in a real browser against real services: traffic through a gateway, written by the pump
(raw and aggregate sinks), seen on the chart and in the log browser."""

from __future__ import annotations

import httpx

from tests.integration.test_web_browser import log_in
from tests.stack import keyless, wait_until


def test_traffic_through_the_gateway_shows_on_the_chart_and_in_the_log_browser(stack, browser_page, upstream):
    page = browser_page.page
    base = stack.dashboard_url
    gateway = stack.start_gateway()
    stack.start_pump()
    api_id = stack.create_api(keyless("Shop", "/shop/", f"http://127.0.0.1:{upstream.port}/"))
    shop = f"http://127.0.0.1:{gateway.port}/shop"
    # Until the gateway has loaded the API it answers 404 itself and records nothing; the first 200 is recorded.
    wait_until(lambda: httpx.get(f"{shop}/echo", timeout=5).status_code == 200, 10, message="the API served")
    statuses = [httpx.get(f"{shop}/{path}", timeout=5).status_code
                for path in ("echo", "echo?page=2", "status/404", "echo")]
    assert statuses == [200, 200, 404, 200]  # the 404 comes from the upstream, through the gateway
    sent, failed = 1 + len(statuses), 1

    def written() -> bool:  # by both sinks: the aggregates feed the chart, the raw records the log browser
        series = stack.api("GET", "/api/analytics/series", params={"api_id": api_id, "granularity": "minute",
                                                                   "from": "", "to": ""}).json()["data"]
        logs = stack.api("GET", "/api/analytics/logs", params={"api_id": api_id}).json()["data"]
        return sum(point["requests"] for point in series) == sent and len(logs) == sent

    wait_until(written, 30, 0.3, message="the pump wrote every request")

    log_in(page, stack)
    page.click("a[href='/analytics']")
    page.wait_for_url(f"{base}/analytics")
    page.select_option("#range", "1h")
    page.get_by_test_id("apply-filters").click()
    page.wait_for_url(f"{base}/analytics?range=1h**")
    assert page.get_by_test_id("total-requests").inner_text() == str(sent)
    assert page.get_by_test_id("total-errors").inner_text() == str(failed)
    assert page.get_by_test_id("chart").is_visible()
    chart_points = page.get_by_test_id("chart-point")
    assert chart_points.count() in (60, 61)  # a minute each, the hour widened to whole minutes
    counted = [(chart_points.nth(n).get_attribute("data-requests"), chart_points.nth(n).get_attribute("data-errors"))
               for n in range(chart_points.count())]
    assert sum(int(requests) for requests, _ in counted) == sent
    assert sum(int(errors) for _, errors in counted) == failed
    assert page.get_by_test_id("breakdown-api").locator("[data-testid=filter-api]").inner_text() == "Shop"
    statuses_seen = page.get_by_test_id("breakdown-status").locator("tbody tr td:first-child").all_inner_texts()
    assert [text.strip() for text in statuses_seen] == ["200", "404"]
    browser_page.shot("analytics-chart")

    page.get_by_test_id("open-logs").click()
    page.wait_for_url(f"{base}/analytics/logs?range=1h**")
    rows = page.get_by_test_id("log-row")
    assert rows.count() == sent
    assert sorted(page.get_by_test_id("log-status").all_inner_texts()) == ["200"] * (sent - 1) + ["404"]
    newest = rows.first.locator("td").all_inner_texts()
    assert newest[1:5] == ["Shop", "GET", "/shop/echo", "200"]
    browser_page.shot("analytics-logs")

    page.fill("#status", "404")
    page.get_by_test_id("apply-filters").click()
    page.wait_for_url("**status=404**")
    assert rows.count() == 1
    assert rows.first.locator("td").all_inner_texts()[1:5] == ["Shop", "GET", "/shop/status/404", "404"]
    browser_page.shot("analytics-logs-404")

    page.fill("#status", "teapot")  # a mistake: shown next to the field, the value kept
    page.get_by_test_id("apply-filters").click()
    assert "a number from 100 to 999" in page.get_by_test_id("error-status").inner_text()
    assert page.input_value("#status") == "teapot"
    browser_page.shot("analytics-logs-bad-status")
