"""JupyterLab itself: the tour, and every widget live inside a notebook.

Every check here runs in one JupyterLab, once per test session, whichever xdist
worker asks first (``once``; pytest-xdist's ``loadgroup`` cannot keep tests
together under pytest 9): the run records each check's outcome, and each test
below reports one of them.  The system widgets run as their notebooks' own widget
cells, all in one notebook and one kernel, so the suite pays for one kernel start
and one wait.  Screenshots land in the run's temporary folder, ``jupyterlab*/``.
"""

import importlib.util
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.ui

_spec = importlib.util.spec_from_file_location("ui_conftest", Path(__file__).parent / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)

ROOT = Path(__file__).resolve().parents[2]
# Which notebooks are checked: the rule of conftest.widget_notebooks (a notebook NN_*.ipynb, NN >= 01,
# whose parameters cell assigns show_widget; its widget cell is the one later cell using show_widget,
# run after the parameters cell and the small parameters, so it may use the parameters' names only).
NOTEBOOKS = _conftest.widget_notebooks()
SYSTEMS = sorted(NOTEBOOKS)
RUN = [stem for stem in SYSTEMS if NOTEBOOKS[stem]["cell"] is not None]  # cells 1.. of systems.ipynb, in order
SETTLE_MS = 15_000  # after the last cell ran: time for live widgets to tick and fail, if they fail
RENDER_MS = 120_000  # per widget: how long its output may take to reach its size on two busy cores
MIN_HEIGHT, MIN_WIDTH = 300, 600  # a widget smaller than this in a 1400x1000 page is squashed
LOCAL_SCHEMES = ("data", "blob", "about")
# Any request off the machine fails the check, the stylesheets Panel re-sends on an update included
# (widgets/__init__.py inlines them).
# After the first look, each system widget is updated once as a person would (its first button named
# below, else another option of its first select, else another button of its first button group), and
# checked again after UPDATE_MS: a replaced plot must not make the kernel print tracebacks (BlazeIt's
# "failed to validate Patch.line_alpha" did) nor fetch anything from the internet.
UPDATE_BUTTONS = ("Run", "Search", "Measure")
UPDATE_MS = 60_000
OK = "ok"

# Checks that fail today because of the system's own widget, for its owner to fix (strict: a fix
# turns them red until the entry is removed).
KNOWN: dict[str, str] = {}
KNOWN_UPDATE: dict[str, str] = {}


@pytest.fixture(scope="session")
def checks(once, lab_factory, browser, tmp_path_factory):
    return once("jupyterlab_checks", lambda: run_checks(lab_factory, browser, tmp_path_factory.mktemp("jupyterlab")))


def test_lab_serves_the_tour(checks):
    assert checks["tour"] == OK, checks["tour"]


def test_widget_renders_inside_a_notebook_and_after_a_reload(checks):
    assert checks["reload"] == OK, checks["reload"]


def test_inline_widgets_fetch_nothing_from_the_internet(checks):
    """Every request of the reload and systems pages goes to the JupyterLab itself (no CDN)."""
    assert checks["offline"] == OK, checks["offline"]


@pytest.mark.parametrize("stem", [pytest.param(s, marks=[pytest.mark.xfail(reason=KNOWN[s], strict=True)]
                                               if s in KNOWN else []) for s in SYSTEMS])
def test_system_widget_renders_inline(checks, stem):
    assert checks[stem] == OK, checks[stem]


@pytest.mark.parametrize("stem", [pytest.param(s, marks=[pytest.mark.xfail(reason=KNOWN_UPDATE[s], strict=True)]
                                               if s in KNOWN_UPDATE else []) for s in SYSTEMS])
def test_system_widget_survives_an_update_inline(checks, stem):
    """One click (or a changed control) later, the widget's output still holds no traceback."""
    assert checks[f"update:{stem}"] == OK, checks[f"update:{stem}"]


def run_checks(lab_factory, browser, out: Path) -> dict[str, str]:
    """Every check in one JupyterLab: check name -> ``"ok"`` or what went wrong (never raises, so
    that no other worker repeats the run)."""
    results = {}
    try:
        return lab_checks(lab_factory, browser, out, results)
    except Exception as exc:
        return {name: results.get(name, f"the JupyterLab run broke off: {type(exc).__name__}: {exc}"[:6000])
                for name in ["tour", "reload", "offline", *SYSTEMS, *[f"update:{s}" for s in SYSTEMS]]}


def lab_checks(lab_factory, browser, out: Path, results: dict) -> dict[str, str]:
    with lab_factory(out / "root") as lab:
        with new_page(browser, out, "tour") as page:
            results["tour"] = outcome(check_tour, lab, page)
        requests = []
        with new_page(browser, out, "reload") as page:
            results["reload"] = outcome(check_reload, lab, page)
            requests += page.requests
        with new_page(browser, out, "systems") as page:
            ran = outcome(run_systems, lab, page)
            for stem in SYSTEMS:
                results[stem] = (NOTEBOOKS[stem]["problem"] if stem not in RUN else
                                 outcome(check_system, page, RUN.index(stem) + 1, stem, out) if ran == OK else ran)
            updated = {stem: outcome(update_system, page, RUN.index(stem) + 1) if results[stem] == OK else
                       f"not updated: its first check failed ({results[stem][:200]})" for stem in SYSTEMS}
            if any(u == OK for u in updated.values()):  # one wait for all: the updates run side by side
                page.wait_for_timeout(UPDATE_MS)
            for stem in SYSTEMS:
                results[f"update:{stem}"] = (outcome(check_updated, page, RUN.index(stem) + 1, stem, out)
                                             if updated[stem] == OK else updated[stem])
            requests += page.requests
        results["offline"] = outcome(check_offline, lab, requests)
    return results


def outcome(check, *args) -> str:
    try:
        check(*args)
    except Exception as exc:  # recorded, and reported by the test that reads it
        return f"{type(exc).__name__}: {exc}"[:6000]
    return OK


class new_page:
    """A fresh browser context and page that records console errors and warnings, screenshot on exit."""

    def __init__(self, browser, out: Path, name: str):
        self.browser, self.out, self.name = browser, out, name

    def __enter__(self):
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = self.page = self.context.new_page()
        page.set_default_timeout(120_000)  # JupyterLab pages are slow to load on two busy cores
        page.console_messages, page.requests = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}")
                if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: page.console_messages.append(f"pageerror: {exc}"))
        return page

    def __exit__(self, *exc):
        (self.out / f"{self.name}-console.txt").write_text("\n".join(self.page.console_messages))
        try:  # a picture to look at; a page too busy to paint one is not a failure in itself
            self.page.screenshot(path=str(self.out / f"{self.name}.png"), timeout=30_000)
        except Exception as error:
            (self.out / f"{self.name}.png.txt").write_text(f"no screenshot: {error}")
        finally:
            self.context.close()


def check_tour(lab, page):
    page.goto(f"{lab}/lab/tree/00_tour.ipynb?reset")
    page.locator(".jp-RenderedMarkdown h1", has_text="dawnlab: a tour").wait_for(timeout=120_000)
    page.locator(".jp-RenderedMarkdown h2", has_text="The offline data").wait_for()
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()


def check_reload(lab, page):
    page.goto(f"{lab}/lab/tree/widget.ipynb?reset")  # ?reset: no tabs restored from the last check
    run_first_cell(page)
    output = page.locator(".jp-OutputArea")
    output.get_by_text("5000 examples of shape 28x28").wait_for(timeout=60_000)
    output.locator(".dataset-select select").select_option("letters")
    output.get_by_text("20000 examples of shape 16").wait_for(timeout=60_000)

    # a page reload keeps the kernel; the cell run again must render and stay live
    page.reload()
    run_first_cell(page)
    output.get_by_text("5000 examples of shape 28x28").wait_for(timeout=60_000)
    output.locator(".dataset-select select").select_option("sklearn_digits")
    output.get_by_text("1797 examples of shape 8x8").wait_for(timeout=60_000)
    missing = [m for m in page.console_messages if "library is missing" in m]
    assert not missing, missing


def run_first_cell(page):
    """Run the notebook's first cell once the kernel answers (the first key press can land too early)."""
    editor = page.locator(".jp-Cell .cm-content").first
    editor.wait_for(timeout=120_000)
    page.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=120_000)
    prompt = page.locator(".jp-InputArea-prompt").first
    before = prompt.inner_text()
    for _ in range(10):
        select_kernel = page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True)
        if select_kernel.count():  # should the kernel dialog come up anyway
            select_kernel.click()
        editor.click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function("([el, before]) => /\\[[0-9*]+\\]/.test(el.innerText) && el.innerText != before",
                                   arg=[prompt.element_handle(), before], timeout=10_000)
            return
        except Exception:
            continue
    raise AssertionError("the first cell never ran")


def run_systems(lab, page):
    """``systems.ipynb`` run to the end, then left to settle."""
    page.goto(f"{lab}/lab/tree/systems.ipynb?reset")
    run_first_cell(page)
    page.locator(".jp-Notebook .jp-CodeCell").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """(n) => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                    return p.length == n && p.every(e => /\\[[0-9]+\\]/.test(e.innerText)); }""",
        arg=len(RUN) + 1, timeout=300_000)
    page.wait_for_timeout(SETTLE_MS)


def output_size(output) -> list[float]:
    """Width and height of the largest Bokeh element in a cell's output (0, 0 when none)."""
    return output.evaluate("""(el) => { let h = 0, w = 0;
        for (const r of el.querySelectorAll('[class^="bk-"]')) {
            const b = r.getBoundingClientRect(); h = Math.max(h, b.height); w = Math.max(w, b.width); }
        return [w, h]; }""")


def check_system(page, index: int, stem: str, out: Path):
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.scroll_into_view_if_needed()
    output = cell.locator(".jp-OutputArea")
    # A cell's prompt gets its number when the kernel has answered; Bokeh then builds the
    # widget's views in the page, later and one output at a time, slower the more widgets came
    # before it.  So wait for this output's views to reach their size (or give up after
    # RENDER_MS), then measure: a single look right after the prompt could catch a widget that
    # had not been laid out yet (0x0).
    try:
        page.wait_for_function(
            """([el, w, h]) => [...el.querySelectorAll('[class^="bk-"]')].some(r => {
                   const b = r.getBoundingClientRect(); return b.width >= w && b.height >= h; })""",
            arg=[output.element_handle(), MIN_WIDTH, MIN_HEIGHT], timeout=RENDER_MS, polling=500)
    except Exception:  # noqa: BLE001 - the size assertion below says what it rendered
        pass
    page.wait_for_timeout(1000)
    cell.screenshot(path=str(out / f"{stem}.png"))
    text = output.inner_text()  # Panel's comm errors arrive as HTML outputs, not as error outputs
    assert "Traceback (most recent call last)" not in text and output.locator(
        '[data-mime-type="application/vnd.jupyter.error"]').count() == 0, (
        f"{stem}: the widget cell printed a traceback:\n{text[-3000:]}")
    size = output_size(output)
    assert size[0] >= MIN_WIDTH and size[1] >= MIN_HEIGHT, f"{stem}: widget rendered {size[0]:.0f}x{size[1]:.0f} px"


def update_system(page, index: int):
    """Do one thing to the widget in code cell ``index`` that a person would: press its first button
    named in UPDATE_BUTTONS, else pick another option of its first select, else press another button
    of its first button group (a radio group)."""
    output = page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".jp-OutputArea")
    output.scroll_into_view_if_needed()
    for name in UPDATE_BUTTONS:
        button = output.locator("button.bk-btn", has_text=re.compile(rf"^\s*{name}\s*$"))
        if button.count():
            button.first.click()
            return
    select = output.locator("select")
    if select.count():
        options = select.first.locator("option")
        current = select.first.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        other = [v for v in values if v != current]
        assert other, f"its first select has one option only ({values})"
        select.first.select_option(other[0])
        return
    group = output.locator(".bk-btn-group button:not(.bk-active)")
    assert group.count(), f"no control to update: no button named one of {UPDATE_BUTTONS}, no select, no button group"
    group.first.click()


def check_updated(page, index: int, stem: str, out: Path):
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.scroll_into_view_if_needed()
    output = cell.locator(".jp-OutputArea")
    cell.screenshot(path=str(out / f"{stem}-updated.png"))
    text = output.inner_text()
    assert "Traceback (most recent call last)" not in text and output.locator(
        '[data-mime-type="application/vnd.jupyter.error"]').count() == 0, (
        f"{stem}: after an update the widget cell printed a traceback:\n{text[-3000:]}")
    # the house pattern for a failed computation: its status line says "error: ..." (the thread's
    # traceback goes to the kernel's log, not to the cell)
    errors = re.findall(r"(?m)^\s*error: .*$", text)
    assert not errors, f"{stem}: after an update the widget reports {errors}"
    size = output_size(output)
    assert size[0] >= MIN_WIDTH and size[1] >= MIN_HEIGHT, (
        f"{stem}: after an update the widget measures {size[0]:.0f}x{size[1]:.0f} px")


def check_offline(lab: str, requests: list[str]):
    """No request left the machine: each went to the JupyterLab's own host, or was a data/blob URL."""
    host = urlparse(lab).netloc
    away = sorted({url for url in requests if urlparse(url).scheme not in LOCAL_SCHEMES
                   and urlparse(url).netloc != host})
    assert requests and not away, (
        f"requests to other hosts: {away}; a widget module whose hv.extension(...) lacks inline=True loads "
        "Bokeh, Panel and their extensions from the CDN in a notebook")
