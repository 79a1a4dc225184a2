"""The README's ``<server>/panel/<name>``: JupyterLab from ``make lab`` serves the widget apps and their index."""

import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parents[2]
APPS = sorted(p.stem for p in (ROOT / "widgets").glob("[a-z]*.py"))


def fetch(url: str, timeout: float = 240) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode(errors="replace")


def test_panel_proxy_serves_an_app_and_the_index_of_all_under_make_lab(make_lab):
    # the first request starts `panel serve` behind jupyter-server-proxy (by name, from PATH)
    # (one app page: each app's own page is checked under `panel serve` by its tests/ui module)
    status, body = fetch(f"{make_lab}/panel/data_browser")
    assert status == 200 and "<title>dawnlab data browser</title>" in body
    assert "Bokeh.embed" in body or "embed_items" in body

    status, body = fetch(f"{make_lab}/panel/")  # the index page, its links and pictures under the prefix
    assert status == 200 and "<title>dawnlab apps</title>" in body
    for name in APPS:
        assert f'href="/panel/{name}"' in body, f"no card for {name} under /panel/"
        status, _ = fetch(f"{make_lab}/panel/thumbnails/{name}.png")
        assert status == 200
