"""The API designer in a real browser against real services: create an API with auth token, rate limit, CORS and a
versioned endpoint rule; edit its upstream; delete it; and a gateway answering as each step says."""

from __future__ import annotations

import httpx

from tests.integration.test_web_browser import log_in
from tests.stack import wait_until


def test_design_edit_and_delete_an_api_and_the_gateway_follows(stack, browser_page, upstream):
    page = browser_page.page
    base = stack.dashboard_url
    gateway = stack.start_gateway()
    url = f"http://127.0.0.1:{gateway.port}/shop/items"
    log_in(page, stack)

    page.goto(f"{base}/apis")
    page.get_by_test_id("new-api").click()
    page.wait_for_url(f"{base}/apis/new")
    # Keyless shows no credential settings; auth token shows where the key is read, but not JWT's or HMAC's.
    assert not page.get_by_test_id("auth-location").is_visible()
    page.check("input[name=auth][value=token]")
    assert page.get_by_test_id("auth-location").is_visible()
    assert not page.get_by_test_id("auth-jwt").is_visible() and not page.get_by_test_id("auth-hmac").is_visible()

    page.fill("#name", "Shop")
    page.fill("#listen_path", "/shop/")
    page.fill("#target_url", f"http://127.0.0.1:{upstream.port}/one/")
    page.fill("#rate", "100")
    page.fill("#per", "60")
    page.check("#cors_enable")
    page.fill("#cors_allowed_origins", "https://shop.example.test")
    page.fill("#cors_max_age", "ten minutes")  # a mistake, shown next to its field
    page.check("#versioned")
    page.fill("input[name=version-0-name]", "v1")
    rules = page.get_by_test_id("rule-row")
    assert rules.count() == 2
    page.get_by_test_id("add-rule").click()  # script adds a third, blank row
    assert rules.count() == 3
    page.fill("input[name=rule-2-version]", "v1")
    page.fill("input[name=rule-2-path]", "/admin")
    page.select_option("select[name=rule-2-method]", "DELETE")
    page.select_option("select[name=rule-2-kind]", "black_list")
    page.fill("input[name=rule-1-path]", "/changed-my-mind")
    rules.nth(1).locator(".remove-row").click()  # script clears and hides the row: it is not saved
    assert not rules.nth(1).is_visible()
    page.get_by_test_id("create-api").click()
    assert "whole number of seconds" in page.get_by_test_id("error-cors_max_age").inner_text()
    assert page.input_value("#name") == "Shop"
    assert page.input_value("input[name=rule-0-path]") == "/admin"  # the filled rows come first again
    assert page.input_value("input[name=rule-1-path]") == ""  # the removed row is gone
    assert page.get_by_test_id("auth-location").is_visible()  # still the chosen kind's fields only
    browser_page.shot("api-new-error")

    page.fill("#cors_max_age", "600")
    browser_page.shot("api-new-filled")
    page.get_by_test_id("create-api").click()
    page.wait_for_url(f"{base}/apis")
    row = page.locator("[data-testid=api-list] tbody tr")
    assert row.count() == 1
    cells = [row.locator("td").nth(index).inner_text() for index in range(5)]
    assert cells == ["Shop", "/shop/", f"http://127.0.0.1:{upstream.port}/one/", "Auth token", "active"]
    browser_page.shot("apis-list")

    # Stored as Tyk shapes it (read back through the JSON API).
    api_id = row.get_attribute("data-api-id")
    stored = stack.api("GET", f"/api/apis/{api_id}").json()["api_definition"]
    assert stored["use_standard_auth"] is True and stored["global_rate_limit"] == {"rate": 100, "per": 60}
    assert stored["CORS"]["enable"] is True and stored["CORS"]["allowed_origins"] == ["https://shop.example.test"]
    assert stored["CORS"]["max_age"] == 600 and stored["version_data"]["not_versioned"] is False
    [rule] = stored["version_data"]["versions"]["v1"]["extended_paths"]["black_list"]
    assert rule["path"] == "/admin" and list(rule["method_actions"]) == ["DELETE"]

    # The gateway serves it as defined: a version is needed, and a key.
    reply = wait_until(lambda: (r := httpx.get(url, timeout=5)).status_code != 404 and r, 10,
                       message="the new API served by the gateway")
    assert (reply.status_code, reply.json()) == (403, {"error": "Version information not found"})
    reply = httpx.get(url, headers={"x-api-version": "v1"}, timeout=5)
    assert (reply.status_code, reply.json()) == (401, {"error": "Authorization field missing"})
    created = stack.api("POST", "/api/keys", json={"access_rights": {api_id: {"versions": ["v1"]}}})
    assert created.status_code == 200, created.text
    key = created.json()["key_id"]
    reply = httpx.get(url, headers={"Authorization": key, "x-api-version": "v2"}, timeout=5)
    assert (reply.status_code, reply.json()) == (403, {"error": "This API version does not seem to exist"})

    def upstream_path() -> str | None:
        reply = httpx.get(url, headers={"Authorization": key, "x-api-version": "v1"}, timeout=5)
        return reply.json()["path"] if reply.status_code == 200 else None

    assert wait_until(upstream_path, 10, message="the key accepted") == "/one/items"

    # Edit: the form shows what is stored; a new upstream reaches the gateway.
    row.get_by_test_id("edit-api").click()
    page.wait_for_url(f"{base}/apis/{api_id}")
    assert page.is_checked("input[name=auth][value=token]") and page.is_checked("#versioned")
    assert page.input_value("input[name=rule-0-path]") == "/admin"
    assert page.input_value("select[name=rule-0-method]") == "DELETE"
    assert page.input_value("#cors_allowed_origins") == "https://shop.example.test"
    page.fill("#target_url", f"http://127.0.0.1:{upstream.port}/two/")
    browser_page.shot("api-edit")
    page.get_by_test_id("save-api").click()
    page.wait_for_url(f"{base}/apis/{api_id}?saved=1")
    assert page.get_by_test_id("saved").is_visible()
    assert page.input_value("#target_url") == f"http://127.0.0.1:{upstream.port}/two/"
    browser_page.shot("api-saved")
    wait_until(lambda: upstream_path() == "/two/items", 10, message="the new upstream used by the gateway")

    # Delete, after a confirmation page: the gateway stops serving it.
    page.get_by_test_id("delete-api").click()
    page.wait_for_url(f"{base}/apis/{api_id}/delete")
    browser_page.shot("api-delete-confirm")
    page.get_by_test_id("confirm-delete").click()
    page.wait_for_url(f"{base}/apis")
    assert page.get_by_test_id("no-apis").is_visible()
    browser_page.shot("apis-after-delete")
    wait_until(lambda: httpx.get(url, headers={"Authorization": key}, timeout=5).status_code == 404, 10,
               message="the deleted API gone from the gateway")
