"""The web app in a real browser against real services: log in / home / log out; create an API through the form
and reach it through a gateway."""

from __future__ import annotations

import re

import httpx

from tests.stack import ADMIN_EMAIL, wait_until


def test_log_in_see_home_and_log_out_in_chromium(stack, browser_page):
    page = browser_page.page
    base = stack.dashboard_url

    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/login\?next=/$"))
    assert page.locator("h1").inner_text() == "Log in"
    browser_page.shot("login")

    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert "Invalid username or password" in page.locator("[role=alert]").inner_text()
    browser_page.shot("login-failed")

    page.fill("#password", stack.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.get_by_test_id("user-email").inner_text() == ADMIN_EMAIL
    assert page.get_by_test_id("organisation").inner_text() == "Test Org"
    assert page.locator("main a[href='/apis']").is_visible() and page.locator("nav a[href='/apis']").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "tollhouse_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script sees the session
    browser_page.shot("home")

    page.click("text=Log out")
    page.wait_for_url(f"{base}/login")
    browser_page.shot("logged-out")
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/login\?next=/$"))


def log_in(page, stack) -> None:
    page.goto(f"{stack.dashboard_url}/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", stack.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.dashboard_url}/")


def test_create_the_health_check_api_through_the_form_and_call_it_through_the_gateway(stack, browser_page):
    page = browser_page.page
    base = stack.dashboard_url
    gateway = stack.start_gateway()
    log_in(page, stack)

    page.click("nav a[href='/apis']")
    page.wait_for_url(f"{base}/apis")
    assert page.get_by_test_id("no-apis").is_visible()
    browser_page.shot("apis-empty")
    page.get_by_test_id("new-api").click()
    page.wait_for_url(f"{base}/apis/new")

    # A mistake first: the error shows next to its field, the other values stay.
    page.fill("#name", "test_health_check")
    page.fill("#listen_path", "test_health_check/")
    page.fill("#target_url", f"{base}/")
    page.check("input[name=auth][value=keyless]")
    page.get_by_test_id("create-api").click()
    error = page.get_by_test_id("error-listen_path")
    assert "must start with '/'" in error.inner_text()
    assert page.input_value("#name") == "test_health_check" and page.input_value("#target_url") == f"{base}/"
    browser_page.shot("apis-new-error")

    page.fill("#listen_path", "/test_health_check/")
    browser_page.shot("apis-new-filled")
    page.get_by_test_id("create-api").click()
    page.wait_for_url(f"{base}/apis")
    row = page.locator("[data-testid=api-list] tbody tr")
    assert row.count() == 1
    cells = [row.locator("td").nth(index).inner_text() for index in range(5)]
    assert cells == ["test_health_check", "/test_health_check/", f"{base}/", "Keyless", "active"]
    browser_page.shot("apis-list")

    # The gateway was told: the dashboard's own /hello answers through it.
    url = f"http://127.0.0.1:{gateway.port}/test_health_check/hello"
    reply = wait_until(lambda: (r := httpx.get(url, timeout=5)).status_code == 200 and r, 10,
                       message="the new API served by the gateway")
    assert reply.json()["status"] == "pass"
