"""Real headless Chromium for the web app's tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Playwright's own browser downloads are never used (no ``playwright install``): ``make browser-deps`` installs
Debian's ``chromium`` package and Playwright launches it by path. Each test's screenshots go to
``tests/artifacts/<test name>/NN-<screen>.png`` (gitignored), plus ``last.png``
taken at teardown, so a failure shows what the browser saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
# Root in a container needs --no-sandbox; the rest stops Chromium calling home (this network refuses it).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@dataclass
class Screens:
    """The page of one test and its numbered screenshots."""

    page: object
    directory: Path
    taken: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def browser_page(request) -> Iterator[Screens]:
    """A fresh headless Chromium page (its own context: no cookies carried between tests)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (installs Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras: make venv")
    directory = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 700})
            page = context.new_page()
            page.set_default_timeout(15_000)
            screens = Screens(page, directory)
            yield screens
            page.screenshot(path=str(directory / "last.png"), full_page=True)
        finally:
            browser.close()
