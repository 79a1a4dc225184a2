"""The Selection-via-Proxy explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_svp_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/svp.py"))
    page.get_by_text("Selection via Proxy").first.wait_for()
    plan = page.locator(".svp-plan")
    plan.get_by_text("least_confidence selection").wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".svp-method select").select_option("margin")
    plan.get_by_text("margin selection").wait_for()
    assert plan.get_by_text("least_confidence selection").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
