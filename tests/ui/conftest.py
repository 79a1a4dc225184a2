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

import contextlib
import json
import os
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


def system_widget_cells() -> dict[str, str]:
    """The cell of each system notebook (``notebooks/0[1-9]*``) that shows its widget, by notebook stem."""
    cells = {}
    for notebook in sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb")):
        sources = [c.source for c in nbformat.read(notebook, as_version=4).cells
                   if c.cell_type == "code" and "show_widget" in c.source and "app()" in c.source]
        assert len(sources) == 1, f"{notebook.name}: expected one widget cell (show_widget ... app()), got {len(sources)}"
        cells[notebook.stem] = sources[0]
    return cells


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
    nb = nbformat.v4.new_notebook()  # every system notebook's widget cell, as written there
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
