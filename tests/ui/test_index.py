"""The ``/`` page of ``make serve``: our own index, a card per app, nothing from the internet."""

import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parents[2]
APPS = sorted(p.stem for p in (ROOT / "widgets").glob("[a-z]*.py"))


@pytest.fixture(scope="module")
def make_serve():
    """``make serve`` itself on a free port (``-o``: never reinstall the environment)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ui_conftest", Path(__file__).parent / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    port = conftest.free_port()
    process = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "serve", f"PORT={port}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        conftest.wait_for_http(f"{base}/", process)
        yield base
    finally:
        conftest.stop(process)


def test_index_lists_every_app_with_its_thumbnail_offline(make_serve, page, tmp_path):
    requests, failures = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
    page.goto(f"{make_serve}/", wait_until="networkidle")
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)

    assert page.title() == "dawnlab apps"
    assert page.locator("h1").inner_text() == "dawnlab"
    for name in APPS:
        card = page.locator(f"#app-{name}")
        assert card.locator("a").get_attribute("href") == f"/{name}"
        assert card.locator("h2").inner_text().strip(), f"{name}: card without a title"
        assert len(card.locator("p").inner_text().strip()) > 20, f"{name}: card without a description"
        image = card.locator("img")
        assert image.count() == 1, f"{name}: no thumbnail committed in widgets/index/thumbnails/"
        assert image.evaluate("(img) => img.complete && img.naturalWidth > 0"), f"{name}: thumbnail did not load"
    hosts = {urlparse(u).hostname for u in requests if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, f"the index fetched from elsewhere: {sorted(hosts)}"
    assert failures == [] and page.console_errors == [], failures + page.console_errors


def update_once(page) -> str:
    """Change one control as a person would: another option of the app's first select, else
    another button of its first button group, else its first button; says what it did.  (A
    control, not Run first: a served app's computation would go on beside the next app's page.)"""
    select = page.locator("select")
    if select.count():
        current = select.first.input_value()
        options = select.first.locator("option")
        other = [v for v in (options.nth(i).get_attribute("value") for i in range(options.count())) if v != current]
        if other:
            select.first.select_option(other[0])
            return f"chose {other[0]}"
    for buttons in (page.locator(".bk-btn-group button:not(.bk-active)"), page.locator("button.bk-btn")):
        if buttons.count():
            label = buttons.first.inner_text().strip()
            buttons.first.click()
            return f"pressed {label}"
    raise AssertionError("no control to change")


def test_every_served_app_fetches_nothing_from_the_internet(make_serve, page):
    """Each app of ``make serve`` loaded, one control changed and left a moment: every request,
    the stylesheets an update re-sends included, goes to the server itself."""
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    done = {}
    for name in APPS:
        page.goto(f"{make_serve}/{name}", wait_until="networkidle", timeout=180_000)
        page.locator(".bk-panel-models-markup-HTML, canvas").first.wait_for(timeout=120_000)
        done[name] = update_once(page)
        page.wait_for_timeout(3000)
    away = sorted({u for u in requests if urlparse(u).scheme not in ("data", "blob", "about")
                   and urlparse(u).hostname != "127.0.0.1"})
    assert away == [], f"served apps fetched from elsewhere (after {done}): {away}"
