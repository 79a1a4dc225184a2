"""The specialized NN's mirror option: a count does not change when a frame is mirrored."""

import numpy as np
import pytest

from dawnlab.blazeit.specialized import SpecializedNN
from dawnlab.errors import InvalidArgument


def test_flip_predicts_the_same_for_a_frame_and_its_mirror_image():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (24, 33, 33, 3), dtype=np.uint8)
    y = rng.integers(0, 3, (24, 1))
    mirrored = np.ascontiguousarray(x[:, :, ::-1])
    flip = SpecializedNN(["car"], epochs=2, seed=0, flip=True).fit(x, y)
    assert np.allclose(flip.predict_proba(x), flip.predict_proba(mirrored), atol=1e-6)
    plain = SpecializedNN(["car"], epochs=2, seed=0).fit(x, y)
    assert not np.allclose(plain.predict_proba(x), plain.predict_proba(mirrored), atol=1e-6)
    with pytest.raises(InvalidArgument, match="'flip'"):
        SpecializedNN(["car"], flip="yes")
