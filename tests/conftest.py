"""Shared pytest set-up: small torch thread pools, a headless matplotlib and a loader of the benchmark scripts."""

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")

try:  # keep the two cores for the test processes themselves
    import torch

    torch.set_num_threads(2)
except ImportError:  # pragma: no cover
    pass


_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def load_benchmark():
    """A loader of ``benchmarks/<name>.py`` as a module (the scripts are not a package), each loaded once."""
    loaded = {}

    def load(name: str):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(f"{name}_benchmark", _ROOT / "benchmarks" / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    return load
