"""Shared pytest set-up: small torch thread pools and a headless matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")

try:  # keep the two cores for the test processes themselves
    import torch

    torch.set_num_threads(2)
except ImportError:  # pragma: no cover
    pass
