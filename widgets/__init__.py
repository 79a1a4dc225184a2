"""Interactive Panel/HoloViews views over dawnlab's library objects.

One module per system; each has ``app()`` returning its layout, usable inline in
a notebook and servable with ``panel serve widgets/<system>.py``.

Importing this package does two things for notebooks:

- Panel inlines its JavaScript and CSS in notebook outputs: the default loads
  Bokeh and Panel from a CDN, which an offline JupyterLab (and this project's
  CI) cannot reach.  HoloViews' ``hv.extension("bokeh")`` has its own switch,
  off by default; it is turned on here too, so an app added later cannot
  fetch es-module-shims or an extension's files from the CDN by forgetting
  ``inline=True``.
- A Panel object shown from a new front-end session first sends Bokeh and Panel
  again.  Panel sends its JavaScript once per kernel, when ``pn.extension()``
  runs; a page reloaded without a kernel restart has lost it, and every widget
  cell run after the reload stayed empty ("Unable to run Panel code because
  Bokeh or Panel library is missing").  Each Jupyter client (a browser page, a
  papermill run) talks to the kernel under its own session id, so a display from
  a session that has not had the libraries yet sends them first.
- Panel's stylesheets stay inline after the first display.  Panel inlines
  them when an object is first shown, but an update (a markup pane's new text,
  a theme re-applied to a replaced plot) sends the component's stylesheets
  again as ``https://cdn.holoviz.org/panel/<version>/dist/...`` addresses: in a
  notebook no document carries a local ``dist_url``, so Panel's update path
  (``Reactive._get_properties`` / ``_update_model``, ``Theme._apply_params``)
  falls back to ``CDN_DIST``.  Offline, the page then loses the loading
  spinner's, the theme's and Markdown's styles.  Every patch the kernel sends
  to a notebook goes through ``panel.io.notebook.diff``; it is wrapped here so
  that each such address is replaced, before the patch leaves the kernel, by
  the same file from the installed Panel inlined (one ``InlineStyleSheet`` per
  file and document, so later patches only refer to it).  ``panel serve``
  sessions are untouched: their documents have a local ``dist_url``.
- The kernel accepts the browser's copy of a new glyph.  When a plot is replaced
  in a notebook, BokehJS sends the kernel glyph models it builds for the new
  plot with each visual property as a value spec, ``{"type": "value",
  "value": 0.3}``.  Bokeh's Python side holds the visual properties of a
  non-vectorised glyph (``Line``, ``Patch``, ``VArea``, ...), and of
  annotations and axes, as plain scalars (``line_alpha`` is an ``Alpha``, not
  an ``AlphaSpec``) and refused the message: every replaced plot printed
  "failed to validate Patch.line_alpha ... Value(...)" tracebacks into the
  cell's output.  Each such scalar property here also accepts a value spec
  holding a valid scalar, and stores the scalar (what the spec means).
"""

import re as _re
import weakref as _weakref

import panel as _pn
import panel.io.notebook as _pn_notebook

_pn.config.inline = True
from holoviews.ipython import notebook_extension as _hv_notebook_extension  # noqa: E402

_hv_notebook_extension.inline = True

_sessions_loaded: set[str] = set()


def _inline_stylesheet(stylesheet, cache: dict):
    """``stylesheet`` itself, or where it is an ``ImportedStyleSheet`` addressing one of the
    installed Panel's own files on its CDN, that file inlined (``cache``: url path -> model)."""
    from bokeh.models import ImportedStyleSheet, InlineStyleSheet
    from panel.io.resources import CDN_DIST, DIST_DIR

    if not isinstance(stylesheet, ImportedStyleSheet):
        return stylesheet
    url = str(stylesheet.url or "")
    if not url.startswith(CDN_DIST):
        return stylesheet
    name = url[len(CDN_DIST):].split("?")[0]
    if name not in cache:
        path = DIST_DIR / name
        if not path.is_file():  # not a file this Panel ships: left as it is (and the check sees it)
            return stylesheet
        cache[name] = InlineStyleSheet(css=path.read_text(encoding="utf-8"))
    return cache[name]


def _inline_patch_stylesheets(doc, events, may_drop: bool) -> None:
    """Swap CDN stylesheet addresses for inlined copies in ``events``, held on ``doc`` for a
    notebook patch: each ``stylesheets`` change, and the stylesheets of every element that a
    change brings in (a replaced plot, new children).

    A markup pane's update sets its stylesheets again on every change of its text.  Where the
    inlined result is exactly what this document last sent for that element (``may_drop``: the
    events are the document's held ones), the change is taken out of the patch, so the page
    keeps its style elements and the patch does not carry the same CSS every time.
    """
    from bokeh.document.events import ModelChangedEvent
    from bokeh.model import Model
    from bokeh.models import UIElement

    cache = _inline_css.setdefault(doc, {})
    sent = _inline_sent.setdefault(doc, _weakref.WeakKeyDictionary())  # element -> stylesheets sent

    def inline_list(value):
        return [_inline_stylesheet(s, cache) for s in value]

    def same(a, b) -> bool:
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))

    def fix(model) -> None:
        current = list(model.stylesheets)
        new = inline_list(current)
        if not same(new, current):
            model.stylesheets = new
            sent[model] = new

    changes = {}
    for event in events:
        if isinstance(event, ModelChangedEvent) and event.attr == "stylesheets":
            changes[id(event.model)] = changes.get(id(event.model), 0) + 1
    may_drop = may_drop and bool(doc.callbacks.hold_value)
    dropped = set()
    for event in events:
        if not isinstance(event, ModelChangedEvent):
            continue
        if event.attr == "stylesheets" and isinstance(event.model, UIElement):
            model = event.model
            new = inline_list(event.new)
            last = sent.get(model)
            if may_drop and changes[id(model)] == 1 and last is not None and same(new, last):
                model.stylesheets = new  # back to what the page has (this change is dropped below)
                dropped.add(id(model))
                continue
            if not same(new, event.new):
                event.new = new  # what the patch sends; the model holds the same
                model.stylesheets = new
            sent[model] = new
        value = event.new
        values = value if isinstance(value, (list, tuple)) else list(value.values()) if isinstance(
            value, dict) else [value]
        for item in values:
            for sub in (item if isinstance(item, (list, tuple)) else [item]):
                if isinstance(sub, Model):
                    for element in sub.select({"type": UIElement}):
                        fix(element)
    if dropped:
        doc.callbacks._held_events = [
            e for e in doc.callbacks._held_events
            if not (isinstance(e, ModelChangedEvent) and e.attr == "stylesheets" and id(e.model) in dropped)]


def _inline_diff(doc, binary=True, events=None):
    """``panel.io.notebook.diff`` with Panel's CDN stylesheet addresses inlined first."""
    if _pn.config.inline:
        _inline_patch_stylesheets(doc, list(doc.callbacks._held_events) if events is None else events,
                                  may_drop=events is None)
    return _panel_diff(doc, binary=binary, events=events)


_inline_css: "_weakref.WeakKeyDictionary" = _weakref.WeakKeyDictionary()  # document -> {file: sheet}
_inline_sent: "_weakref.WeakKeyDictionary" = _weakref.WeakKeyDictionary()  # document -> element -> sheets
if not getattr(_pn_notebook.diff, "_dawnlab_inline", False):  # once, however often this is imported
    _panel_diff = _pn_notebook.diff
    _inline_diff._dawnlab_inline = True
    _pn_notebook.diff = _inline_diff
else:
    _panel_diff = _pn_notebook.diff._dawnlab_wrapped
_inline_diff._dawnlab_wrapped = _panel_diff


_VISUAL = _re.compile(r"(^|_)(line|fill|hatch|text|border|background|outline)_[a-z_]+$")


def _accept_value_specs() -> None:
    """Let every scalar visual property of a Bokeh model (a glyph's ``line_alpha``, an axis'
    ``axis_line_color``, ...) accept ``Value(x)`` for a valid ``x``."""
    from bokeh.core.property.dataspec import DataSpec
    from bokeh.core.property.instance import Instance
    from bokeh.core.property.vectorization import Value
    from bokeh.model import Model

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def unwrap(prop):
        def convert(spec):
            prop.validate(spec.value)  # a value spec holding an invalid scalar is refused as before
            return spec.value
        return convert

    seen = set()
    for cls in set(subclasses(Model)):
        for name in cls.properties():
            if not _VISUAL.search(name):
                continue
            prop = cls.lookup(name).property
            if id(prop) in seen or isinstance(prop, DataSpec):
                continue
            seen.add(id(prop))
            if not any(getattr(tp, "_instance_type", None) is Value for tp, _ in prop.alternatives):
                prop.accepts(Instance(Value), unwrap(prop))


_accept_value_specs()


def _client_session():
    """The session id of the Jupyter client whose request the kernel is running, or None."""
    try:
        kernel = get_ipython().kernel  # noqa: F821 (IPython's builtin)
        return kernel.get_parent("shell")["header"]["session"]
    except Exception:  # not in a kernel, or a kernel without parent headers
        return None


def _show_with_libraries(obj, include=None, exclude=None):
    """IPython mimebundle printer for Panel objects: libraries first where this client lacks them."""
    session = _client_session()
    if session is not None and session not in _sessions_loaded:
        from panel.config import panel_extension
        from panel.io.notebook import load_notebook

        if panel_extension._loaded:
            load_notebook(_pn.config.inline, reloading=False)
        _sessions_loaded.add(session)
    return obj._repr_mimebundle_(include, exclude)


def _install() -> None:
    try:
        ip = get_ipython()  # noqa: F821
    except NameError:  # plain Python, panel serve, pytest
        return
    if ip is None or not hasattr(ip, "kernel"):
        return
    session = _client_session()
    if session is not None:  # this cell's pn.extension() (in the widget module) sends the libraries
        _sessions_loaded.add(session)
    ip.display_formatter.mimebundle_formatter.for_type(_pn.viewable.Viewable, _show_with_libraries)


_install()
