"""JupyterLab itself: it starts, serves the tour, and renders a Panel widget live."""

import pytest

pytestmark = pytest.mark.ui


def test_lab_serves_the_tour(lab, page):
    page.goto(f"{lab}/lab/tree/00_tour.ipynb?reset")
    page.locator(".jp-RenderedMarkdown h1", has_text="dawnlab: a tour").wait_for(timeout=120_000)
    page.locator(".jp-RenderedMarkdown h2", has_text="The offline data").wait_for()
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()


def test_widget_renders_inside_a_notebook(lab, page, tmp_path):
    try:
        run_widget_cell(lab, page)
    finally:
        page.screenshot(path=str(tmp_path / "lab.png"))
        (tmp_path / "console.txt").write_text("\n".join(page.console_errors))
        (tmp_path / "notebook.html").write_text(page.content())


def run_widget_cell(lab, page):
    page.goto(f"{lab}/lab/tree/widget.ipynb?reset")  # ?reset: no tabs restored from the last test
    editor = page.locator(".jp-Cell .cm-content").first
    editor.wait_for(timeout=120_000)
    page.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=120_000)
    prompt = page.locator(".jp-InputArea-prompt").first
    for _ in range(10):  # the first key press can land before the kernel connection is ready
        editor.click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function("(el) => /\\[[0-9*]+\\]/.test(el.innerText)", arg=prompt.element_handle(),
                                   timeout=10_000)
            break
        except Exception:
            continue
    page.locator(".jp-OutputArea").get_by_text("5000 examples of shape 28x28").wait_for(timeout=40_000)
    page.locator(".jp-OutputArea .dataset-select select").select_option("letters")
    page.locator(".jp-OutputArea").get_by_text("20000 examples of shape 16").wait_for(timeout=60_000)
