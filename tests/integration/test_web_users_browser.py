"""Users, account and audit log in a real browser against a real dashboard: an admin creates an analytics
reader through the form; the reader sees only Analytics, is refused other screens and changes their password;
the admin follows it all in the audit log."""

from __future__ import annotations

from tests.stack import ADMIN_EMAIL

READER = "reader@tollhouse.test"
FIRST_PASSWORD = "first password of the reader"
SECOND_PASSWORD = "second password of the reader"


def log_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def log_out(page, base: str) -> None:
    page.click("text=Log out")
    page.wait_for_url(f"{base}/login")


def top_bar(page) -> list[str]:
    return page.locator("header nav a:not(.who)").all_inner_texts()


def test_users_account_and_audit_in_chromium(stack, browser_page):
    page = browser_page.page
    base = stack.dashboard_url

    # The admin creates an analytics reader through the form.
    log_in(page, base, ADMIN_EMAIL, stack.admin_password)
    page.click("header nav a[href='/users']")
    page.wait_for_url(f"{base}/users")
    assert page.get_by_test_id("user-email").all_inner_texts() == [ADMIN_EMAIL]
    browser_page.shot("users-list")
    page.get_by_test_id("new-user").click()
    page.wait_for_url(f"{base}/users/new")
    page.fill("#email", READER)
    page.fill("#password", "short")
    page.select_option("#perm_analytics", "read")
    page.get_by_test_id("create-user").click()
    assert "at least 12 characters" in page.get_by_test_id("error-password").inner_text()
    assert page.input_value("#email") == READER and page.input_value("#perm_analytics") == "read"
    browser_page.shot("users-new-error")
    page.fill("#password", FIRST_PASSWORD)
    browser_page.shot("users-new-filled")
    page.get_by_test_id("create-user").click()
    page.wait_for_selector("[data-testid=notice]")
    assert page.get_by_test_id("user-heading").inner_text() == READER
    assert page.input_value("#perm_analytics") == "read" and page.input_value("#perm_apis") == "none"
    browser_page.shot("users-created")
    page.goto(f"{base}/users")
    row = page.locator("[data-testid=user-row]", has_text=READER)
    assert row.locator("td[data-area=analytics]").inner_text() == "read"
    assert row.locator("td[data-area=users]").inner_text() == "none"
    browser_page.shot("users-list-with-reader")
    log_out(page, base)

    # The reader sees only Analytics and is refused the rest.
    log_in(page, base, READER, FIRST_PASSWORD)
    assert top_bar(page) == ["Analytics"]
    browser_page.shot("reader-home")
    for path in ("/users", "/apis/new"):
        refused = page.goto(f"{base}{path}")
        assert refused.status == 403, path
        assert page.locator("h1").inner_text() == "Forbidden"
        browser_page.shot(f"reader-forbidden-{path.strip('/').replace('/', '-')}")

    # ... and changes their own password on /account (the top bar links it under their email).
    page.goto(f"{base}/")
    page.click("[data-testid=signed-in-as]")
    page.wait_for_url(f"{base}/account")
    assert page.get_by_test_id("account-email").inner_text() == READER
    assert page.locator("[data-testid=account-permissions] td[data-area=analytics]").inner_text() == "read"
    page.fill("#current_password", FIRST_PASSWORD)
    page.fill("#new_password", SECOND_PASSWORD)
    page.fill("#new_password_again", SECOND_PASSWORD + "?")
    page.get_by_test_id("change-password").click()
    assert "differ" in page.get_by_test_id("error-new_password_again").inner_text()
    browser_page.shot("account-error")
    page.fill("#current_password", FIRST_PASSWORD)
    page.fill("#new_password", SECOND_PASSWORD)
    page.fill("#new_password_again", SECOND_PASSWORD)
    page.get_by_test_id("change-password").click()
    page.wait_for_url(f"{base}/account?changed=1")
    assert "password was changed" in page.get_by_test_id("notice").inner_text()
    browser_page.shot("account-changed")
    log_out(page, base)
    log_in(page, base, READER, SECOND_PASSWORD)
    log_out(page, base)

    # The admin widens the reader's access, then follows every change in the audit log.
    log_in(page, base, ADMIN_EMAIL, stack.admin_password)
    page.goto(f"{base}/users")
    page.click(f"text={READER}")
    page.select_option("#perm_apis", "read")
    browser_page.shot("users-edit")
    page.get_by_test_id("save-access").click()
    page.wait_for_selector("[data-testid=notice]")
    page.click("header nav a[href='/audit']")
    page.wait_for_url(f"{base}/audit")
    rows = page.locator("[data-testid=audit-row]")
    assert rows.count() == 3
    texts = rows.all_inner_texts()
    assert ADMIN_EMAIL in texts[0] and "update" in texts[0]
    assert READER in texts[1] and "change password" in texts[1]
    assert ADMIN_EMAIL in texts[2] and "create" in texts[2]
    browser_page.shot("audit-log")
    page.fill("#user", READER)
    page.get_by_test_id("apply-filters").click()
    assert page.locator("[data-testid=audit-row]").count() == 1
    browser_page.shot("audit-filtered")
    page.goto(f"{base}/audit")
    rows.nth(0).get_by_test_id("audit-details").click()
    page.wait_for_selector("[data-testid=before]")
    assert page.get_by_test_id("changed-fields").inner_text() == "user_permissions.apis"
    marked = {side: [text.strip() for text in page.locator(f"[data-testid={side}] .changed").all_inner_texts()]
              for side in ("before", "after")}
    assert marked == {"before": ['"apis": "none",'], "after": ['"apis": "read",']}
    for secret in (FIRST_PASSWORD, SECOND_PASSWORD, "$2b$"):
        assert secret not in page.content()
    browser_page.shot("audit-entry")
