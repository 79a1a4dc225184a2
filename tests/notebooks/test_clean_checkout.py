"""Running a notebook where a person runs it leaves the checkout as it was.

JupyterLab (``make lab``) starts each kernel in the notebook's own folder, so a
notebook that writes a cache or an export "beside itself" writes into the
checkout.  Here each notebook runs with papermill in ``notebooks/`` itself, on
the small parameters of ``tests/notebooks/params/``, and ``git status`` must not
gain an entry: whatever a notebook writes goes to a temporary folder or to a
path that ``.gitignore`` covers.  The tour runs in the default suite; the system
notebooks, which ``test_notebooks.py`` already runs in a temporary folder, run
here again only with ``-m slow`` (``make test-all``), to keep ``make test`` short.
In the default suite every notebook is still checked, at no extra run: ``conftest.py``
here checks what each of those temporary-folder runs wrote (each file must be one that
``.gitignore`` covers under ``notebooks/``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMS = Path(__file__).parent / "params"


def git_status(notebook: Path) -> set[str]:
    """What running ``notebook`` can add to ``git status --porcelain``: untracked files, one by
    one, and a change to the notebook itself.

    Edits to other tracked files are left out, so that a person editing code while
    the suite runs does not fail this test.
    """
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    mine = f"notebooks/{notebook.name}"
    return {line for line in out.splitlines() if line.startswith("??") or line[3:] == mine}


def ignored_in_notebooks() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "notebooks"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if line.startswith("!!") and not line.endswith("/")}


def cases():
    for notebook in NOTEBOOKS:
        marks = [pytest.mark.notebook] + ([] if notebook.stem == "00_tour" else [pytest.mark.slow])
        yield pytest.param(notebook, marks=marks, id=notebook.stem)


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
@pytest.mark.parametrize("notebook", list(cases()))
def test_running_a_notebook_in_place_leaves_git_status_unchanged(notebook, tmp_path):
    path = PARAMS / f"{notebook.stem}.json"
    parameters = json.loads(path.read_text()) if path.exists() else {}
    before = git_status(notebook)
    ignored_before = ignored_in_notebooks()
    papermill.execute_notebook(
        str(notebook), str(tmp_path / f"{notebook.stem}.out.ipynb"), parameters=parameters,
        cwd=str(notebook.parent), kernel_name="python3", progress_bar=False, execution_timeout=600)
    new = sorted(git_status(notebook) - before)
    for line in ignored_in_notebooks() - ignored_before:  # tidy up what the run wrote, ignored or not
        path = ROOT / line[3:]
        path.unlink(missing_ok=True)
        for folder in path.parents:  # and the folders it made, once empty
            if folder == notebook.parent or any(folder.iterdir()):
                break
            folder.rmdir()
    assert not new, (f"running {notebook.name} in notebooks/ left files git does not ignore: {new}; "
                     "write them under a temporary folder or add them to .gitignore")
