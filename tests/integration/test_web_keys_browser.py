"""Policies and keys in a real browser against real services: make a policy and a key from it through the forms,
call an API through a gateway with the key shown once, look at the key's usage, revoke it."""

from __future__ import annotations

import httpx

from tests.gateways import keyed
from tests.integration.test_web_browser import log_in
from tests.stack import wait_until


def test_policy_key_gateway_usage_and_revoke_in_chromium(stack, browser_page):
    page = browser_page.page
    base = stack.dashboard_url
    gateway = stack.start_gateway()
    api_id = stack.create_api(keyed("partner-api", "/partner/", f"{base}/"))
    url = f"http://127.0.0.1:{gateway.port}/partner/hello"
    log_in(page, stack)

    # A policy through the form.
    page.click("a[href='/policies']")
    page.wait_for_url(f"{base}/policies")
    assert page.get_by_test_id("no-policies").is_visible()
    browser_page.shot("policies-empty")
    page.get_by_test_id("new-policy").click()
    page.wait_for_url(f"{base}/policies/new")
    page.fill("#name", "Partner")
    page.fill("#rate", "10")
    page.fill("#per", "1")
    page.fill("#quota_max", "100")
    page.fill("#quota_renewal_rate", "3600")
    page.check(f"input[name='api:{api_id}']")
    browser_page.shot("policies-new")
    page.get_by_test_id("create-policy").click()
    page.wait_for_url(f"{base}/policies")
    row = page.get_by_test_id("policy-row")
    assert row.count() == 1 and "Partner" in row.inner_text() and "10 per 1 s" in row.inner_text()
    browser_page.shot("policies-list")

    # A key from that policy: a mistake first (no policy ticked), then the key, shown once.
    page.click("a[href='/keys']")
    page.wait_for_url(f"{base}/keys")
    assert page.get_by_test_id("no-keys").is_visible()
    browser_page.shot("keys-empty")
    page.get_by_test_id("new-key-link").click()
    page.wait_for_url(f"{base}/keys/new")
    page.fill("#alias", "partner-1")
    page.get_by_test_id("source-policies").check()
    page.get_by_test_id("create-key").click()
    assert "tick at least one policy" in page.get_by_test_id("error-policies").inner_text()
    assert page.input_value("#alias") == "partner-1"
    browser_page.shot("keys-new-error")
    page.check("input[name^='policy:']")
    page.get_by_test_id("create-key").click()
    key = page.get_by_test_id("new-key").inner_text().strip()
    assert key and key not in page.url and page.get_by_test_id("shown-once").is_visible()
    browser_page.shot("keys-created")

    # The key works on the gateway; no key is refused.
    reply = wait_until(lambda: (r := httpx.get(url, headers={"Authorization": key}, timeout=5)).status_code == 200
                       and r, 10, message="the new key accepted by the gateway")
    assert reply.json()["status"] == "pass"
    assert httpx.get(url, timeout=5).status_code == 401

    # Its page: the policy's limits and the request just counted.
    page.get_by_test_id("view-new-key").click()
    page.wait_for_selector("[data-testid=key-usage]")
    assert page.get_by_test_id("usage-rate").inner_text() == "10 per 1 s"
    used = int(page.get_by_test_id("usage-used").inner_text())
    assert used >= 1 and int(page.get_by_test_id("usage-remaining").inner_text()) == 100 - used
    assert page.locator("[data-testid=key-policies] a").inner_text() == "Partner"
    browser_page.shot("keys-view")
    page.goto(f"{base}/keys")
    assert page.get_by_test_id("key-row").count() == 1 and "partner-1" in page.get_by_test_id("key-row").inner_text()
    browser_page.shot("keys-list")

    # Revoke: asked first, then gone here and on the gateway.
    page.get_by_test_id("revoke-key").click()
    page.wait_for_selector("[data-testid=confirm-revoke]")
    browser_page.shot("keys-revoke")
    page.get_by_test_id("confirm-revoke").click()
    page.wait_for_url(f"{base}/keys")
    assert page.get_by_test_id("no-keys").is_visible()
    browser_page.shot("keys-revoked")
    assert httpx.get(url, headers={"Authorization": key}, timeout=5).status_code in (401, 403)
