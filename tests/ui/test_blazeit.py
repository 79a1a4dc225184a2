"""The BlazeIt widget served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_blazeit_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/blazeit.py"))
    answer = page.locator(".blazeit-answer")
    answer.get_by_text("method blazeit").wait_for(timeout=120_000)
    answer.get_by_text("for the full scan", exact=False).first.wait_for()
    page.locator(".blazeit-method").get_by_text("scan", exact=True).click()
    answer.get_by_text("method scan").wait_for(timeout=60_000)
    assert answer.get_by_text("method blazeit").count() == 0
    page.wait_for_timeout(500)
    assert page.console_errors == []
