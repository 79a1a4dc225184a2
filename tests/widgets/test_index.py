"""The index page's cards: every app has a title, a line and a small committed thumbnail."""

from pathlib import Path

import pytest
from PIL import Image

from widgets import index

APPS = sorted(p.stem for p in index.WIDGETS.glob("[a-z]*.py"))


def test_describe_splits_the_docstrings_first_line():
    assert index.describe("data_browser") == ("Data browser",
                                              "Pick one of dawnlab's offline data sets and page through it.")
    assert index.describe("no_such_app") == ("No such app", "")


@pytest.mark.parametrize("name", APPS)
def test_every_app_has_a_card_and_a_small_thumbnail(name):
    (card,) = index.cards([(f"/{name}", name)])
    assert card["name"] == name and card["title"] and len(card["line"]) > 20
    assert card["thumbnail"], f"no widgets/index/thumbnails/{name}.png: run `make screenshots SCREENSHOT_ARGS=--thumbnails`"
    path = index.THUMBNAILS / f"{name}.png"
    with Image.open(path) as image:
        assert image.size == (480, 300)
    assert path.stat().st_size < 100_000


def test_cards_take_the_route_name_under_a_prefix():
    assert [c["name"] for c in index.cards([("/panel/svp", "svp"), ("/blazeit", "blazeit")])] == ["blazeit", "svp"]


def test_template_fetches_nothing_from_outside():
    text = Path(index.TEMPLATE).read_text()
    assert "http://" not in text and "https://" not in text
