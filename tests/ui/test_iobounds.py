"""The I/O bounds explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_iobounds_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/iobounds.py"))
    page.get_by_text("I/O lower bounds of computation graphs").first.wait_for()
    summary = page.locator(".iob-summary")
    summary.get_by_text("32 vertices").wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".iob-source select").select_option("hypercube")
    summary.get_by_text("8 vertices").wait_for()
    assert summary.get_by_text("32 vertices").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []


@pytest.mark.slow
def test_a_second_page_answers_while_one_computes(serve_app, page, browser):
    """Issue 16: a slow setting on one page never blocks another page's load.

    Page one drags the FFT size to its maximum (1024 vertices: the bounds take
    tens of seconds) and shows a spinner; page two must load and render its
    summary while page one is still busy."""
    url = serve_app("widgets/iobounds.py")
    page.goto(url)
    page.locator(".iob-summary").get_by_text("32 vertices").wait_for()
    handle = page.locator(".iob-size .noUi-handle").first
    handle.focus()
    handle.press("End")  # the slider's real maximum for fft: 7
    page.locator(".pn-loading").first.wait_for(timeout=30_000)
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(url, timeout=120_000)
    other.locator(".iob-summary").get_by_text("32 vertices").wait_for(timeout=120_000)
    assert page.locator(".pn-loading").count() > 0  # page one is still computing
    page.locator(".iob-summary").get_by_text("1024 vertices").wait_for(timeout=300_000)
    other.context.close()
    assert page.console_errors == []


GATED_APP = '''
"""The I/O bounds explorer whose sandwich for fft size {size} waits for a file (a test's gate)."""
import os
import time
from pathlib import Path

import panel as pn

import widgets.iobounds as iob

_sandwich_for = iob.sandwich_for
GATE = Path(os.environ["DAWNLAB_TEST_GATE"])


def gated(source, size, M):
    if (source, size) == ("fft", {size}):
        deadline = time.monotonic() + 300
        while not GATE.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return _sandwich_for(source, size, M)


iob.sandwich_for = gated
if pn.state.served:
    iob.app().servable()
'''


def test_a_second_page_loads_while_one_computes(serve_app, page, browser, tmp_path, monkeypatch):
    """Issue 16, cheaply: while one page's callback computes, the server still answers a new page.

    The served explorer's summary for fft size 4 waits until the test creates a gate file, so
    page one stays busy (its spinner on) for exactly as long as the test needs: page two must
    load and render meanwhile.  A callback on the server's event loop would block the loop,
    and page two would never render."""
    gate = tmp_path / "gate"
    script = tmp_path / "iobounds_gated.py"
    script.write_text(GATED_APP.replace("{size}", "4"))
    monkeypatch.setenv("DAWNLAB_TEST_GATE", str(gate))
    url = serve_app(str(script))
    page.goto(url)
    summary = page.locator(".iob-summary")
    summary.get_by_text("32 vertices").wait_for()
    handle = page.locator(".iob-size .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")  # fft size 3 -> 4: the gated summary
    page.locator(".pn-loading").first.wait_for(timeout=30_000)
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.goto(url, timeout=120_000)
        other.locator(".iob-summary").get_by_text("32 vertices").wait_for(timeout=120_000)
        assert not gate.exists() and page.locator(".pn-loading").count() > 0  # page one still waits
    finally:
        gate.touch()
        other.context.close()
    summary.get_by_text("80 vertices").wait_for(timeout=120_000)
    assert page.console_errors == []
