"""Turning data sets into tensors: a torch Dataset's labels follow the (X, y) pair's rules."""

import numpy as np
import pytest
import torch

from dawnlab.svp import SVPError
from dawnlab.svp.pool import as_tensors


class Pairs(torch.utils.data.Dataset):
    """A map-style Dataset (not a TensorDataset) yielding (features, label) with the given labels."""

    def __init__(self, labels):
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return np.full(3, i, np.float32), self.labels[i]


@pytest.mark.parametrize("labels,shown", [([0.7, 1.2, 1.0], "0.7"), ([0.0, 1.0, 2.5], "2.5"),
                                          ([0, 1, np.inf], "inf"), ([0, 1, np.nan], "nan")])
def test_dataset_labels_that_are_not_whole_numbers_are_refused_like_an_xy_pair(labels, shown):
    # before: int(label) truncated 0.7 to 0 and 1.2 to 1 silently
    for data in (Pairs(labels), (np.zeros((3, 3), np.float32), np.array(labels))):
        with pytest.raises(SVPError, match=rf"'pool'.*integer class labels.*non-integer labels, e\.g\. {shown}"):
            as_tensors(data, "example", "pool")


def test_dataset_string_labels_are_refused_even_when_they_look_like_numbers():
    # before: int("1") parsed the string and the data set was accepted
    for data in (Pairs(["1", "0", "1"]), (np.zeros((3, 3)), np.array(["1", "0", "1"]))):
        with pytest.raises(SVPError, match=r"'pool'.*integer class labels.*dtype <U1.*\['1'\].*np\.unique"):
            as_tensors(data, "example", "pool")
    with pytest.raises(SVPError, match=r"'pool'.*integer class labels.*dtype object"):
        as_tensors(Pairs([0, None, 1]), "example", "pool")


def test_dataset_labels_that_are_whole_numbers_are_kept_in_any_numeric_form():
    labels = [2, np.int64(0), 1.0, torch.tensor(1), np.float32(3.0)]
    X, y = as_tensors(Pairs(labels), "example")
    assert y.dtype == torch.int64 and y.tolist() == [2, 0, 1, 1, 3]
    assert X.shape == (5, 3) and X[:, 0].tolist() == [0, 1, 2, 3, 4]
    _, y2 = as_tensors((X.numpy(), np.array([2, 0, 1, 1, 3], np.float64)), "example")
    assert y2.tolist() == y.tolist()


def test_dataset_labels_of_differing_shapes_are_refused():
    with pytest.raises(SVPError, match=r"'pool'.*one per example.*differing shapes"):
        as_tensors(Pairs([0, [1, 0], 1]), "example", "pool")
    with pytest.raises(SVPError, match=r"'pool'.*labels of shape \(examples,\)"):
        as_tensors(Pairs([[1, 0], [0, 1]]), "example", "pool")
