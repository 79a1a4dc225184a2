"""Notebook updates carry no CDN address (``widgets/__init__.py``), checked without a browser.

Panel inlines its stylesheets when an object is first shown in a notebook, but
an update re-sends them as ``cdn.holoviz.org`` addresses; the package's wrapper
of ``panel.io.notebook.diff`` inlines them.  Each test shows a Panel object the
way a notebook does (``_repr_mimebundle_``) and reads every message the kernel
would send to the page after an update.
"""

import holoviews as hv
import panel as pn
import pytest
from panel.io.resources import CDN_DIST
from panel.io.state import state

import widgets  # noqa: F401 (installs the wrapper)


class Sent:
    """Stands in for the page: what Panel pushes over a shown object's comm."""

    def __init__(self, obj):
        obj._repr_mimebundle_()
        (self.ref,) = [ref for ref in obj._models if ref in state._views]
        comm = state._views[self.ref][3]
        comm._comm = object()  # open, as if a page had connected
        comm.send = lambda data=None, metadata=None, buffers=(): self.messages.append(
            (data or "") + "".join(bytes(b).decode("utf-8", "replace") for b in buffers))
        self.messages: list[str] = []

    def take(self) -> str:
        text, self.messages = "".join(self.messages), []
        return text


@pytest.fixture
def inline(monkeypatch):
    from panel.config import panel_extension

    monkeypatch.setattr(panel_extension, "_loaded", True)  # as after pn.extension() in a notebook
    before = pn.config.inline
    pn.config.inline = True
    yield
    pn.config.inline = before


def test_a_markdown_update_sends_its_stylesheets_inline_once(inline):
    md = pn.pane.Markdown("first")
    sent = Sent(pn.Column(md))
    md.object = "second"
    patch = sent.take()
    assert "second" in patch and CDN_DIST not in patch and "cdn.holoviz.org" not in patch
    assert "InlineStyleSheet" in patch  # the styles came along, from the installed Panel
    md.object = "third"
    patch = sent.take()
    assert "third" in patch and "cdn.holoviz.org" not in patch
    assert "StyleSheet" not in patch  # the page has them: not sent again


def test_without_the_wrapper_the_update_would_fetch_from_the_cdn(inline, monkeypatch):
    """The failure the wrapper removes (so the test above can fail)."""
    import panel.io.notebook as nb

    monkeypatch.setattr(nb, "diff", widgets._panel_diff)
    md = pn.pane.Markdown("first")
    sent = Sent(pn.Column(md))
    md.object = "second"
    assert f"{CDN_DIST}css/markdown.css" in sent.take()


def test_a_replaced_plot_and_new_children_carry_no_cdn_address(inline):
    hv.extension("bokeh", logo=False, inline=True)
    plot = pn.pane.HoloViews(hv.Curve([1, 2]))
    col = pn.Column(pn.pane.Markdown("a"), plot)
    sent = Sent(col)
    plot.object = hv.Bars([3, 1])
    col.append(pn.pane.Markdown("b"))
    col[0] = pn.Row(pn.pane.Markdown("c"), pn.widgets.Button(label="go"))
    patch = sent.take()
    assert "Bars" in patch or "quad" in patch.lower() or "VBar" in patch  # the new plot went out
    assert "cdn.holoviz.org" not in patch


def test_the_kernel_accepts_the_browsers_copy_of_a_non_vectorised_glyph():
    """BokehJS sends a replaced plot's new glyphs back with value specs; the kernel took
    ``Patch.line_alpha = Value(0.3)`` for an error and printed a traceback per glyph."""
    from bokeh.core.serialization import Deserializer
    from bokeh.models import Line, Patch

    glyph = Deserializer().decode({"type": "object", "name": "Patch", "id": "p-from-the-page", "attributes": {
        "line_alpha": {"type": "value", "value": 0.3}, "fill_color": {"type": "value", "value": "blue"},
        "line_dash": {"type": "value", "value": [4, 2]}}})
    assert isinstance(glyph, Patch)
    assert (glyph.line_alpha, glyph.fill_color, list(glyph.line_dash)) == (0.3, "blue", [4, 2])
    from bokeh.core.property.vectorization import Value

    line = Line()
    line.line_width = Value(2.5)
    assert line.line_width == 2.5
    with pytest.raises(ValueError, match="expected a value of type Real"):  # an invalid scalar is refused
        line.line_alpha = Value("opaque")
    with pytest.raises(ValueError, match="1.5"):
        line.line_alpha = Value(1.5)
