"""Small synthetic pipelines shared by the Willump tests (fast: no text features)."""

from __future__ import annotations

import numpy as np
import pytest
from dawnlab.willump.datasets import synthetic, synthetic_pipeline


@pytest.fixture(scope="module")
def fitted():
    from dawnlab.willump import Willump

    X, y = synthetic()
    return Willump(synthetic_pipeline(), progress=False, cache_entries=100).fit(X, y), X, y
