"""What the console's browser tests share: the built bundle, Chromium, axe-core, screenshots.

One browser per test module; waits are Playwright's (events and conditions), never sleeps.
Screenshots go to ``test-artifacts/console/`` (gitignored), one per page and theme.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.tab.test_tab_browser import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "console"
BUNDLE = CONSOLE / "dist" / "console.js"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "console"


def _sources() -> list[Path]:
    return [
        *CONSOLE.glob("src/**/*"),
        *CONSOLE.glob("api-docs/*"),
        CONSOLE / "build.mjs",
        REPO / "bot/i18n/locales/en/admin.json",
        REPO / "package-lock.json",
    ]


def ensure_bundle() -> None:
    """Build the console when its sources are newer than the bundle (as setup.sh does)."""
    built = BUNDLE.stat().st_mtime if BUNDLE.exists() else 0.0
    if all(p.stat().st_mtime <= built for p in _sources() if p.is_file()):
        return
    npm = shutil.which("npm")
    if npm is None or not (REPO / "node_modules" / "esbuild").exists():
        pytest.fail("the admin console is not built and cannot be: run scripts/setup.sh")
    subprocess.run([npm, "run", "--silent", "build:console"], cwd=REPO, check=True, timeout=120)


def playwright_api() -> Any:
    api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium")
    ensure_bundle()
    return api


async def launch(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def new_page(
    browser: Any, width: int = 1000, locale: str | None = None
) -> tuple[Any, list[str]]:
    """A page that records script errors; no animations (axe checks settled colours); the
    browser's language ``locale`` (the console's, as Chromium's ``navigator.language``)."""
    page = await browser.new_page(
        viewport={"width": width, "height": 900}, reduced_motion="reduce", locale=locale
    )
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


async def assert_accessible(page: Any, name: str) -> None:
    """axe-core (WCAG 2.1 A/AA rules and best practices) finds nothing on the page."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    violations = json.loads(result)
    summary = [
        f"{v['id']}: {v['help']} -> "
        + "; ".join(f"{n['target']} {n.get('failureSummary', '')}" for n in v["nodes"][:3])
        for v in violations
    ]
    assert summary == [], f"axe on {name}: {summary}"


async def screenshots(page: Any, name: str) -> None:
    """Keep the page in light and dark, and check both with axe."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for theme in ("default", "dark"):
        await page.emulate_media(color_scheme="dark" if theme == "dark" else "light")
        await page.wait_for_function(f"document.documentElement.dataset.theme === '{theme}'")
        await assert_accessible(page, f"{name} ({theme})")
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{theme}.png"), full_page=True)
    await page.emulate_media(color_scheme="light")
