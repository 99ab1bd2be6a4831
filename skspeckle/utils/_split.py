"""The validation split used for early stopping by every estimator that trains a network."""

import math
import warnings

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit

__all__ = ["stratified_split"]


def stratified_split(y_enc, fraction, seed, n_classes, name):
    """Sorted (train, validation) indices, stratified by class; validation is None when
    ``fraction`` is 0 or too few frames hold every class on both sides (with a warning)."""
    n = len(y_enc)
    all_idx = np.arange(n)
    if fraction == 0:
        return all_idx, None
    n_val = math.ceil(fraction * n)
    counts = np.bincount(y_enc, minlength=n_classes)
    if counts.min() < 2 or n_val < n_classes or n - n_val < n_classes:
        warnings.warn(
            f"{name}: validation_fraction={fraction} of {n} frames cannot hold every one of "
            f"the {n_classes} classes in both the training and the validation set (each class "
            "needs 2 frames or more); training without a validation set, early stopping "
            "monitors the training loss.",
            UserWarning,
            stacklevel=4,
        )
        return all_idx, None
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros((n, 1)), y_enc))
    return np.sort(train_idx), np.sort(val_idx)
