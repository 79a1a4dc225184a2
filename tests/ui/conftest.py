"""Browser fixtures: serve a widget app with ``panel serve`` and drive it in Chromium.

``serve_app("widgets/<name>.py")`` starts ``panel serve`` on a free localhost port
and returns the app's URL; the server stops when the test module ends.  ``lab`` (and
``started_lab(folder)``) starts JupyterLab on a free port over a folder holding the
tour, a one-cell notebook that shows the data browser (``widget.ipynb``) and one
holding every system notebook's widget cell (``systems.ipynb``), and returns its
base URL; ``make_lab`` starts JupyterLab with ``make lab`` itself.
``shared_once`` runs an expensive check once for all xdist workers (pytest-xdist's
``loadgroup`` cannot keep tests together under pytest 9).  ``page``
is a Playwright page in Debian's headless Chromium (``/usr/bin/chromium``; no
Playwright browser download) with ``page.console_errors``: every console error and
uncaught page error seen so far (and ``page.console_warnings``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DAWNLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.ui


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered:\n{out[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server and everything it started (JupyterLab's proxied ``panel serve``, kernels)."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        child.kill()


@pytest.fixture(scope="module")
def serve_app():
    """Factory: ``serve_app("widgets/x.py")`` -> URL of the served app."""
    processes = []

    def serve(script: str) -> str:
        path = ROOT / script
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", str(path), "--address", "127.0.0.1",
             "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "TQDM_DISABLE": "1"})
        processes.append(process)
        url = f"http://127.0.0.1:{port}/{path.stem}"
        wait_for_http(url, process)
        return url

    yield serve
    for process in processes:
        stop(process)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make system-deps` "
                    "(apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.console_errors, page.console_warnings = [], []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else
            page.console_warnings.append(msg.text) if msg.type == "warning" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


def widget_notebooks() -> dict[str, dict]:
    """The system notebooks that show a widget, by stem: ``{"cell": source, "problem": None}``,
    or ``{"cell": None, "problem": why it cannot be checked}``.

    The rule: a system notebook is ``notebooks/NN_<name>.ipynb`` with NN from 01; it shows a
    widget when its ``parameters`` cell (the first code cell) assigns ``show_widget``; its widget
    cell is the one later code cell that uses the name ``show_widget``, and that cell may use
    the parameters' names and its own, nothing that other cells compute.  The cell returned is
    the parameters cell, the notebook's small parameters (``tests/notebooks/params/<stem>.json``),
    ``show_widget = True`` and then the widget cell, so that it runs on its own in a shared
    kernel.  A notebook that declares ``show_widget`` but breaks the rule gets a problem (its
    own check reports it; the others run); one that does not declare it, or whose parameters
    cell does not parse yet, is not a widget notebook.
    """
    found = {}
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if notebook.stem.startswith("00"):
            continue
        try:
            cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
            declared = {t.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name)}
            small = ROOT / "tests" / "notebooks" / "params" / f"{notebook.stem}.json"
            overrides = json.loads(small.read_text()) if small.exists() else {}
        except Exception:  # noqa: BLE001 - a notebook being written: not (yet) a widget notebook
            continue
        if "show_widget" not in declared:
            continue
        uses = [c.source for c in cells[1:] if uses_name(c.source, "show_widget")]
        if len(uses) != 1:
            found[notebook.stem] = {"cell": None, "problem": (
                f"{notebook.name} assigns show_widget in its parameters cell, but {len(uses)} later code "
                "cells use the name show_widget: the widget cell must be exactly one")}
            continue
        outside = sorted(free_names(uses[0]) - declared)
        if outside:
            found[notebook.stem] = {"cell": None, "problem": (
                f"{notebook.name}: its widget cell uses {outside}, which other cells compute; a widget "
                "cell may use only the parameters' names and its own (build what it shows inside it)")}
            continue
        found[notebook.stem] = {"cell": "\n".join(
            [f"# {notebook.name}: parameters, small parameters, then the widget cell", cells[0].source]
            + [f"{k} = {v!r}" for k, v in overrides.items()] + ["show_widget = True", uses[0]]), "problem": None}
    return found


def free_names(source: str) -> set[str]:
    """Names that code ``source`` reads but neither binds itself nor gets from builtins or IPython
    (empty where IPython magics keep it from parsing)."""
    import builtins

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            if not isinstance(node, ast.ClassDef):
                bound |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        elif isinstance(node, ast.Lambda):
            bound |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound - set(dir(builtins)) - {"display", "get_ipython"}


def uses_name(source: str, name: str) -> bool:
    """Whether code ``source`` uses the variable ``name`` (a word match where IPython magics keep
    it from parsing as Python)."""
    try:
        return name in {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return re.search(rf"\b{name}\b", source) is not None


def system_widget_cells() -> dict[str, str]:
    """The runnable widget cell of each widget notebook that follows the rule (:func:`widget_notebooks`)."""
    return {stem: found["cell"] for stem, found in widget_notebooks().items() if found["cell"] is not None}


@contextlib.contextmanager
def running_lab(process: subprocess.Popen, base: str):
    """Wait until the JupyterLab in ``process`` answers at ``base``; stop it on exit."""
    try:
        wait_for_http(f"{base}/lab", process)
        yield base
    finally:
        stop(process)


@contextlib.contextmanager
def started_lab(root: Path):
    """JupyterLab on a free port over ``root`` (created), holding the notebooks above; yields its URL."""
    root.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "00_tour.ipynb", root)
    kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from widgets import data_browser\ndata_browser.app()")]
    nb.metadata["kernelspec"] = kernelspec
    nbformat.write(nb, root / "widget.ipynb")
    nb = nbformat.v4.new_notebook()  # every widget notebook's widget cell, after its parameters (widget_notebooks)
    nb.cells = [nbformat.v4.new_code_cell("show_widget = True")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in system_widget_cells().values()]
    nb.metadata["kernelspec"] = kernelspec
    nbformat.write(nb, root / "systems.ipynb")
    # every cell rendered, on screen or not, so that sizes can be measured anywhere in a notebook
    # and no dialog or pop-up in the way: the default kernel starts without asking, no news question
    settings = root / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
    for plugin, value in [("notebook-extension/tracker", '{"windowingMode": "none", "autoStartDefaultKernel": true}'),
                          ("apputils-extension/notification", '{"fetchNews": "false"}')]:
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(value)
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "TQDM_DISABLE": "1",
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.collaborative=False"] + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with running_lab(process, f"http://127.0.0.1:{port}") as base:
        yield base


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory.mktemp("lab") / "root") as base:
        yield base


def shared_once(tmp_path_factory, name: str, compute):
    """``compute()`` run once per test session, its JSON result shared by every xdist worker.

    The first worker to ask computes and writes ``<name>.json`` under the run's
    common temporary folder while holding a file lock; the others wait, then read it.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / f"{name}.json"
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            path.write_text(json.dumps(compute()))
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def make_lab(tmp_path_factory):
    """JupyterLab started by ``make lab``, as the README says, from a PATH without ``.venv/bin``.

    Returns its base URL.  ``-o .venv/.installed`` keeps make from reinstalling the
    environment; Jupyter's runtime and config folders go to a temporary folder.
    """
    root = tmp_path_factory.mktemp("make_lab")
    port = free_port()
    venv_bin = str(ROOT / ".venv" / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != Path(venv_bin).resolve())
    env = {**os.environ, "PATH": path, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "TQDM_DISABLE": "1",
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime"), "VIRTUAL_ENV": ""}
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token= --ServerApp.password= "
            "--LabApp.news_url=None")
    process = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with running_lab(process, f"http://127.0.0.1:{port}") as base:
        yield base


@pytest.fixture(scope="session")
def once(tmp_path_factory):
    """``once(name, compute)``: :func:`shared_once` for this session."""
    return lambda name, compute: shared_once(tmp_path_factory, name, compute)


@pytest.fixture(scope="session")
def lab_factory():
    """:func:`started_lab`, for a test module that manages its own JupyterLab."""
    return started_lab
