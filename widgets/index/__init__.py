"""The index page of ``make serve``: one card per widget app, nothing fetched from the internet.

``index.html`` is the Tornado template that ``panel serve --index`` renders; it
imports :func:`cards` from here.  Each card's title and line come from the first
paragraph of the app module's docstring (``"Title: what it does."``) and its
picture from ``thumbnails/<app>.png``, committed beside this file (written by
``make screenshots``), so an app added later gets a card without touching the
template.  The page is plain HTML and CSS: no logo, font or script from a CDN.
"""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["WIDGETS", "THUMBNAILS", "TEMPLATE", "describe", "cards"]

WIDGETS = Path(__file__).resolve().parents[1]
THUMBNAILS = Path(__file__).resolve().parent / "thumbnails"
TEMPLATE = Path(__file__).resolve().parent / "index.html"


def describe(name: str) -> tuple[str, str]:
    """An app's card title and one-line description, from its module docstring.

    >>> describe("data_browser")
    ('Data browser', "Pick one of dawnlab's offline data sets and page through it.")
    """
    path = WIDGETS / f"{name}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) if path.exists() else None
    first = " ".join((doc or "").split("\n\n")[0].split())
    title, _, line = first.partition(": ")
    if not line:
        return name.replace("_", " ").capitalize(), title
    return title, line[:1].upper() + line[1:]


def cards(items) -> list[dict]:
    """Card data for the template from ``panel serve``'s ``items``: ``(slug, title)`` pairs.

    Each card has ``name`` (the app's route), ``title``, ``line`` and
    ``thumbnail`` (whether ``thumbnails/<name>.png`` exists), in the order of the
    route names.
    """
    names = sorted({slug.rstrip("/").rsplit("/", 1)[-1] for slug, _ in items})
    out = []
    for name in names:
        title, line = describe(name)
        out.append({"name": name, "title": title, "line": line,
                    "thumbnail": (THUMBNAILS / f"{name}.png").exists()})
    return out
