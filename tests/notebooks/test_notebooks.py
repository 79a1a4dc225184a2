"""Every notebook is a test: papermill runs it on small parameters.

Each notebook in ``notebooks/`` runs in a temporary working directory with the
overrides in ``tests/notebooks/params/<stem>.json`` (an empty object when the
file is absent).  A cell that raises fails the test; so does an override the
notebook's ``parameters`` cell does not declare.  Separate checks keep the
committed notebooks clean: no outputs, a first code cell tagged ``parameters``
holding literal assignments only.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMS = Path(__file__).parent / "params"


def small_parameters(notebook: Path) -> dict:
    path = PARAMS / f"{notebook.stem}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def first_code_cell(notebook: Path):
    nb = nbformat.read(notebook, as_version=4)
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{notebook.name} has committed outputs: clear them"
            assert cell.execution_count is None, f"{notebook.name} has execution counts: clear them"
    cell = first_code_cell(notebook)
    assert "parameters" in cell.metadata.get("tags", []), f"{notebook.name}: first code cell is not tagged 'parameters'"
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{notebook.name}: parameters cell holds more than assignments"
        ast.literal_eval(node.value)  # raises ValueError for anything but a literal


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_small_parameters_are_declared(notebook):
    declared = papermill.inspect_notebook(str(notebook))
    unknown = set(small_parameters(notebook)) - set(declared)
    assert not unknown, f"{notebook.name} does not declare parameters {sorted(unknown)}; it has {sorted(declared)}"


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_small_parameters(notebook, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    source = workdir / notebook.name
    shutil.copy(notebook, source)
    papermill.execute_notebook(
        str(source), str(tmp_path / f"{notebook.stem}.out.ipynb"),
        parameters=small_parameters(notebook), cwd=str(workdir), kernel_name="python3",
        progress_bar=False, execution_timeout=600)
