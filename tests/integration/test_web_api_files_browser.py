"""In Chromium against real services: import an OpenAPI document from a file, call the API through a gateway,
then break and fix its definition in the JSON editor, and export it."""

from __future__ import annotations

import json
import re

import httpx

from tests.integration.test_web_browser import log_in
from tests.stack import wait_until

OPENAPI_YAML = """\
openapi: 3.0.3
info:
  title: OpenAPI health
  version: 1.0.0
servers:
  - url: {base}
paths:
  /hello:
    get:
      responses:
        '200': {{description: the dashboard's health}}
"""


def test_import_an_openapi_document_then_edit_its_json(stack, browser_page):
    page = browser_page.page
    base = stack.dashboard_url
    gateway = stack.start_gateway()
    log_in(page, stack)

    # The document is chosen as a file: the page's script reads it into the text area.
    page.goto(f"{base}/apis/import/openapi")
    page.get_by_test_id("openapi-file").set_input_files(files=[{
        "name": "health.yaml", "mimeType": "application/yaml",
        "buffer": OPENAPI_YAML.format(base=base).encode()}])
    page.wait_for_function("document.getElementById('document').value.includes('OpenAPI health')")
    page.fill("#listen_path", "/openapi_health/")
    browser_page.shot("openapi-filled")
    page.get_by_test_id("openapi-preview-button").click()
    preview = json.loads(page.get_by_test_id("openapi-preview").inner_text())
    assert preview["name"] == "OpenAPI health" and preview["use_keyless"] is True
    allowed = preview["version_data"]["versions"]["Default"]["extended_paths"]["white_list"]
    assert [(entry["path"], entry["method"]) for entry in allowed] == [("/hello", "GET")]
    assert page.get_by_test_id("openapi-warning").count() == 0
    browser_page.shot("openapi-preview")

    page.get_by_test_id("openapi-create").click()
    page.wait_for_url(re.compile(r"/apis/[0-9a-f]+/json\?created=openapi$"))
    api_id = page.get_by_test_id("api-id").inner_text()
    assert page.get_by_test_id("notice").inner_text() == "API created."
    browser_page.shot("json-editor-created")

    # The gateway serves the documented path, stripped of the listen path, from the document's server.
    url = f"http://127.0.0.1:{gateway.port}/openapi_health/hello"
    reply = wait_until(lambda: (r := httpx.get(url, timeout=5)).status_code == 200 and r, 10,
                       message="the imported API served by the gateway")
    assert reply.json()["status"] == "pass"

    # A syntax error: its line is marked, in the excerpt and in the editor's line numbers.
    original = page.input_value("#definition")
    broken = original.replace('"name": "OpenAPI health",', '"name": "OpenAPI health"', 1)
    page.fill("#definition", broken)
    page.get_by_test_id("save-json").click()
    syntax = page.get_by_test_id("json-syntax-error")
    line = int(syntax.get_attribute("data-line"))
    assert broken.split("\n")[line - 1].strip().startswith('"')  # the line after the missing comma
    assert f"line {line}, column" in syntax.inner_text()
    assert page.locator(f".gutter span.bad:text-is('{line}')").count() == 1
    assert page.input_value("#definition") == broken
    browser_page.shot("json-syntax-error")

    # A validation error: shown beside the line of the field it names.
    bad_upstream = original.replace(f'"target_url": "{base}"', '"target_url": "ftp://nowhere"', 1)
    page.fill("#definition", bad_upstream)
    page.get_by_test_id("save-json").click()
    error = page.locator("[data-testid=json-error][data-path='proxy.target_url']")
    assert "absolute http(s) URL" in error.inner_text()
    row = page.locator("tr[data-testid=json-error-line]", has=error)
    assert '"target_url": "ftp://nowhere"' in row.inner_text()
    error.click()  # selects that line in the editor
    selected = page.evaluate("(() => { const t = document.getElementById('definition');"
                             " return t.value.slice(t.selectionStart, t.selectionEnd); })()")
    assert '"target_url": "ftp://nowhere"' in selected
    browser_page.shot("json-validation-error")

    # Fixed and saved; the gateway still answers.
    page.fill("#definition", original.replace('"OpenAPI health"', '"OpenAPI health (edited)"', 1))
    page.get_by_test_id("save-json").click()
    page.wait_for_url(re.compile(r"\?saved=1$"))
    assert page.get_by_test_id("notice").inner_text() == "Saved."
    browser_page.shot("json-saved")
    stored = stack.api("GET", f"/api/apis/{api_id}").json()["api_definition"]
    assert stored["name"] == "OpenAPI health (edited)"
    wait_until(lambda: httpx.get(url, timeout=5).status_code == 200, 10, message="the edited API still served")

    with page.expect_download() as download:
        page.get_by_test_id("export-api").click()
    assert download.value.suggested_filename == "OpenAPI-health-edited.json"
    assert json.loads(download.value.path().read_text()) == {"api_definition": stored}
