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
