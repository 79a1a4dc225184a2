"""Every notebook run of the default suite also checks that it would leave the checkout clean.

``test_notebooks.py::test_notebook_runs_on_small_parameters`` runs each notebook with
its working directory a fresh temporary folder, which is what a person's JupyterLab
does with ``notebooks/`` (the kernel starts in the notebook's folder).  So every file
that run leaves in that folder is a file the notebook would write beside itself in the
checkout: each must be one that ``.gitignore`` covers there.  The wrapper below adds
that check to the run the suite already pays for (no notebook runs twice), and also
fails the run if a new untracked file appeared under ``notebooks/`` meanwhile (a
notebook that writes to the checkout by an absolute path).  ``test_clean_checkout.py``
runs the notebooks in ``notebooks/`` itself under ``-m slow``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_TEST = "test_notebook_runs_on_small_parameters"


def untracked_in_notebooks(since: float) -> set[str]:
    """Untracked files under ``notebooks/`` that git does not ignore, changed since ``since``."""
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "notebooks"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    paths = {line[3:] for line in out.splitlines() if line.startswith("??")}
    return {p for p in paths if not p.endswith(".ipynb")  # notebooks being written (not by a run)
            and (ROOT / p).exists() and (ROOT / p).stat().st_mtime >= since}


def not_ignored(paths: list[str]) -> list[str]:
    """The paths (relative to the checkout) that ``.gitignore`` does not cover."""
    if not paths:
        return []
    out = subprocess.run(["git", "check-ignore", "--stdin"], cwd=ROOT, input="\n".join(paths),
                         capture_output=True, text=True).stdout
    ignored = set(out.splitlines())
    return [p for p in paths if p not in ignored]


def _git_checkout() -> bool:
    return (ROOT / ".git").exists() and subprocess.run(["git", "--version"], capture_output=True).returncode == 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if getattr(item, "originalname", None) != RUN_TEST or not _git_checkout():
        return (yield)
    start = time.time() - 1
    result = yield  # the notebook ran without an error (else this raised and nothing is checked)
    notebook = item.callspec.params["notebook"]
    workdir = item.funcargs["tmp_path"] / "work"
    wrote = sorted(f"notebooks/{p.relative_to(workdir).as_posix()}" for p in workdir.rglob("*")
                   if p.is_file() and p.relative_to(workdir).as_posix() != notebook.name)
    beside = not_ignored(wrote)
    assert not beside, (f"{notebook.name} writes {beside} into its working folder: in JupyterLab that is "
                        "notebooks/, and .gitignore does not cover them; write them under a temporary "
                        "folder or add them to .gitignore")
    new = sorted(untracked_in_notebooks(start))
    assert not new, f"while {notebook.name} ran, untracked files appeared in notebooks/: {new}"
    return result
