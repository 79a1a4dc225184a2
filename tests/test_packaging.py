"""The install files agree with each other."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"duckdb": "python-duckdb", "dask[distributed]": "distributed"}


def test_binder_environment_is_the_root_environment():
    assert (ROOT / "binder" / "environment.yml").read_bytes() == (ROOT / "environment.yml").read_bytes()


def test_postbuild_fails_fast_and_installs_the_package():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in text and "pip install" in text and "-e ." in text


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0].lower()


def test_every_dependency_is_in_the_conda_environment():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["lab"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if not d.startswith("-")}
        else:
            names.add(_name(dep))
    missing = []
    for requirement in wanted:
        name = _name(requirement)
        conda = CONDA_NAMES.get(name, name)
        if name == "torch":
            conda = "torch"
        if conda not in names:
            missing.append(name)
    assert not missing, f"environment.yml lacks {missing}"


def test_lock_pins_cpu_torch_and_opencv_4():
    lock = dict(line.split("==", 1) for line in (ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert lock["torch"] == "2.13.0"
    assert lock["opencv-python-headless"].startswith("4.")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = _name(requirement).split("[")[0]
        assert any(k.lower().replace("_", "-") == name for k in lock), f"{name} is not pinned in requirements.lock"
