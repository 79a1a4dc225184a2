"""The FlexFlow explorer served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_flexflow_explorer_loads_and_follows_its_controls(serve_app, page):
    page.goto(serve_app("widgets/flexflow.py"))
    page.get_by_text("SOAP strategies and the execution simulator").first.wait_for()
    page.locator("canvas").first.wait_for()
    status = page.locator(".ff-status")
    status.get_by_text("alexnet: 14 operators on p100x16").wait_for()
    page.locator(".ff-config select").select_option("P4")
    status.get_by_text("fc6 -> P4").wait_for()
    page.locator(".ff-model select").select_option("resnet101")
    status.get_by_text("resnet101: 143 operators").wait_for()
    page.wait_for_timeout(500)
    assert page.console_errors == []
