"""The Mozart explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_mozart_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/mozart.py"))
    page.get_by_text("Mozart: split annotations").first.wait_for()
    plan = page.locator(".mozart-plan")
    plan.get_by_text("erf(x1: ArraySplit(axis=0))", exact=False).first.wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".mozart-workload select").select_option("nbody")
    plan.get_by_text("subtract.outer", exact=False).first.wait_for()
    assert plan.get_by_text("erf(x1", exact=False).count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
