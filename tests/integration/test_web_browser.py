"""The web app in a real browser against a real dashboard process: redirect to login, log in, home, log out."""

from __future__ import annotations

import re

from tests.stack import ADMIN_EMAIL


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
    assert page.locator("a[href='/apis']").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "tollhouse_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script sees the session
    browser_page.shot("home")

    page.click("text=Log out")
    page.wait_for_url(f"{base}/login")
    browser_page.shot("logged-out")
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/login\?next=/$"))
