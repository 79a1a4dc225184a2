"""The Willump explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_willump_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/willump.py"))
    page.get_by_text("Willump: cascades").first.wait_for()
    plan = page.locator(".willump-plan")
    plan.get_by_text("positive vs negative tweets").wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".willump-dataset select").select_option("letters")
    plan.get_by_text("26-class letters").wait_for()
    assert plan.get_by_text("positive vs negative tweets").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
