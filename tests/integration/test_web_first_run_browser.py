"""The original design's story in a real browser against real processes: set up a fresh dashboard, log in,
create /test_health_check/ through the form, call it through a gateway, and find those calls on the analytics
chart and in the log browser. A screenshot of each screen goes to tests/artifacts/."""

from __future__ import annotations

import re

import httpx

from tests.stack import ADMIN_EMAIL, wait_until

CALLS = 7


def test_first_run_to_traffic_on_the_chart(fresh_stack, browser_page):
    stack, page, base = fresh_stack, browser_page.page, fresh_stack.dashboard_url
    gateway = stack.start_gateway()
    stack.start_pump()

    # A fresh dashboard: login sends to the set-up page, which wants the code from the dashboard's log.
    page.goto(f"{base}/")
    page.wait_for_url(f"{base}/bootstrap")
    browser_page.shot("bootstrap")
    page.fill("#code", "0000-0000-0000-0000")
    page.fill("#org_name", "Test Org")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", stack.admin_password)
    page.fill("#password_again", stack.admin_password)
    page.get_by_test_id("bootstrap").click()
    assert "wrong or was already used" in page.get_by_test_id("error-code").inner_text()
    browser_page.shot("bootstrap-wrong-code")
    page.fill("#code", stack.bootstrap_code())
    page.fill("#password", stack.admin_password)
    page.fill("#password_again", stack.admin_password)
    page.get_by_test_id("bootstrap").click()
    page.wait_for_url(f"{base}/")
    assert page.get_by_test_id("organisation").inner_text() == "Test Org"
    browser_page.shot("home-after-bootstrap")

    # Log out and in again with the new administrator.
    page.click("text=Log out")
    page.wait_for_url(f"{base}/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", stack.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # The original design's API, through the designer form.
    page.click("nav a[href='/apis']")
    page.get_by_test_id("new-api").click()
    page.wait_for_url(f"{base}/apis/new")
    page.fill("#name", "test_health_check")
    page.fill("#listen_path", "/test_health_check/")
    page.fill("#target_url", f"{base}/")
    page.check("input[name=auth][value=keyless]")
    browser_page.shot("apis-new")
    page.get_by_test_id("create-api").click()
    page.wait_for_url(f"{base}/apis")
    browser_page.shot("apis-list")

    url = f"http://127.0.0.1:{gateway.port}/test_health_check/hello"
    wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, 10, message="the new API served by the gateway")
    for _ in range(CALLS - 2):
        assert httpx.get(url, timeout=5).status_code == 200
    missing = httpx.get(f"http://127.0.0.1:{gateway.port}/test_health_check/no-such-page", timeout=5)
    assert missing.status_code == 404

    # The pump has written them: the chart (aggregates) and the log browser (raw records) show those calls.
    def on_the_chart() -> bool:
        page.goto(f"{base}/analytics?range=1h")
        return page.get_by_test_id("total-requests").inner_text() == str(CALLS)

    wait_until(on_the_chart, 30, 0.5, message=f"{CALLS} calls on the analytics chart")
    assert page.get_by_test_id("total-errors").inner_text() == "1"
    points = page.get_by_test_id("chart-point")
    assert sum(int(points.nth(n).get_attribute("data-requests")) for n in range(points.count())) == CALLS
    assert page.get_by_test_id("breakdown-api").locator("[data-testid=filter-api]").inner_text() == "test_health_check"
    browser_page.shot("analytics-chart")

    page.get_by_test_id("open-logs").click()
    page.wait_for_url(f"{base}/analytics/logs?**")
    assert page.get_by_test_id("log-row").count() == CALLS
    assert sorted(page.get_by_test_id("log-status").all_inner_texts()) == ["200"] * (CALLS - 1) + ["404"]
    assert page.get_by_test_id("log-row").first.locator("td").nth(1).inner_text() == "test_health_check"
    browser_page.shot("analytics-logs")

    # Every other screen renders for the administrator (one screenshot each).
    for path, screen in [("/apis", "apis"), ("/keys", "keys"), ("/keys/new", "keys-new"), ("/policies", "policies"),
                         ("/policies/new", "policies-new"), ("/users", "users"), ("/users/new", "users-new"),
                         ("/audit", "audit"), ("/account", "account"), ("/apis/import", "apis-import"),
                         ("/apis/import/openapi", "apis-import-openapi")]:
        assert page.goto(f"{base}{path}").status == 200, path
        browser_page.shot(screen)
    page.goto(f"{base}/apis")
    page.locator("[data-testid=api-list] tbody tr a", has_text="test_health_check").first.click()
    page.wait_for_url(re.compile(r"/apis/[0-9a-f]+$"))
    browser_page.shot("apis-edit")
    # The audit log recorded the bootstrap and the API's creation, by the administrator.
    page.goto(f"{base}/audit")
    audit_text = page.locator("main").inner_text()
    assert "bootstrap" in audit_text and "create" in audit_text and ADMIN_EMAIL in audit_text
