"""Shared fixtures: a small synthetic video with a trained session, and a vtest clip."""

import numpy as np
import pytest

from dawnlab.blazeit import Session, synthetic


@pytest.fixture(scope="session")
def small_session():
    """2,000 synthetic frames, fully labelled; NN trained on another 'day' of the same camera."""
    src, oracle = synthetic.scene(2000, seed=3)
    train_src, train_oracle = synthetic.scene(12000, seed=103)
    s = Session(src, oracle, train_source=train_src, train_oracle=train_oracle, train_frames=1200, heldout_frames=300,
                epochs=6, seed=0)
    s.train()
    s.label_all()
    return s


@pytest.fixture(scope="session")
def vtest_clip(tmp_path_factory):
    """The first 12 frames of the pedestrian video, as a folder of PNGs and an AVI."""
    import cv2

    from dawnlab.data import video_path

    cap = cv2.VideoCapture(str(video_path()))
    folder = tmp_path_factory.mktemp("vtest_frames")
    frames = []
    for k in range(12):
        ok, img = cap.read()
        assert ok
        frames.append(img)
        cv2.imwrite(str(folder / f"{k:04d}.png"), img)
    cap.release()
    return folder, [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
