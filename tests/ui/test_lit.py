"""The LIT explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_lit_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/lit.py"))
    page.get_by_text("LIT: block-wise intermediate-representation training").first.wait_for()
    plan = page.locator(".lit-plan")
    plan.get_by_text("student ResNet1D-8").wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".lit-student select").select_option("14")
    plan.get_by_text("student ResNet1D-14").wait_for()
    assert plan.get_by_text("student ResNet1D-8 ").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
