"""The data browser served by ``panel serve``, driven in headless Chromium."""

import pytest

pytestmark = pytest.mark.ui


def test_data_browser_loads_and_follows_its_controls(serve_app, page, tmp_path):
    page.goto(serve_app("widgets/data_browser.py"))
    page.get_by_text("5000 examples of shape 28x28").wait_for()
    plot = page.locator(".bk-Canvas canvas, canvas").first
    plot.wait_for()
    page.wait_for_timeout(1000)
    before = plot.screenshot()

    select = page.locator(".dataset-select select")
    select.select_option("opencv_digits")
    page.get_by_text("5000 examples of shape 20x20").wait_for()
    page.wait_for_timeout(1000)
    assert page.locator(".bk-Canvas canvas, canvas").first.screenshot() != before

    select.select_option("video")
    page.get_by_text("795 frames, 768x576, 10 fps").wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "video.png"))
    assert page.console_errors == []
