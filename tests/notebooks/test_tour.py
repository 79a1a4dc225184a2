"""The tour points a newcomer at every system: a link to its notebook and the name of its app."""

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
TOUR = nbformat.read(ROOT / "notebooks" / "00_tour.ipynb", as_version=4)
MARKDOWN = "\n".join(c.source for c in TOUR.cells if c.cell_type == "markdown")
CODE = "\n".join(c.source for c in TOUR.cells if c.cell_type == "code")


def test_tour_links_every_system_notebook():
    for notebook in sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb")):
        assert f"]({notebook.name})" in MARKDOWN, f"the tour has no markdown link to {notebook.name}"


def test_tour_says_how_to_open_every_app():
    assert "make serve" in MARKDOWN and "<server>/panel/" in MARKDOWN
    for app in sorted((ROOT / "widgets").glob("[a-z]*.py")):
        assert f"`{app.stem}`" in MARKDOWN or f"/{app.stem}" in MARKDOWN, f"the tour never names the app {app.stem}"


def test_tour_shows_one_digit_grid_and_says_the_two_sets_are_one():
    assert CODE.count("grid(") == 2  # its definition and one call
    assert "same 5000 images" in MARKDOWN
