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
