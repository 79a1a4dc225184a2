"""The time-to-accuracy explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_tta_explorer_loads_runs_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/tta.py"))
    page.get_by_text("Time to accuracy: MLPerf runs").first.wait_for()
    plan = page.locator(".tta-plan")
    plan.get_by_text("synthetic: quick, low ceiling").wait_for()
    page.locator(".bk-Canvas canvas, canvas").first.wait_for()
    page.locator(".tta-run button").click()  # the two synthetic entries: a few seconds
    page.locator(".tta-status").get_by_text("done: logs in").wait_for(timeout=120_000)
    page.locator(".tta-readout").get_by_text("#1").first.wait_for()
    page.locator(".tta-entries select").select_option(["digits: fast recipe"])
    plan.get_by_text("of each of digits: fast recipe").wait_for()
    assert plan.get_by_text("synthetic: quick").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
