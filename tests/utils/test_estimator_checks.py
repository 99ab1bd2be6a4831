"""The contract checks catch the breaches they are written for."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from skspeckle import DetectorMask, RandomRotation
from skspeckle.utils.estimator_checks import (
    check_augmentation_identity_at_transform,
    check_estimator_contracts,
    check_flat_and_stacked_input_agree,
    check_pickle_round_trip,
    check_torch_global_rng_untouched,
    make_check_data,
    yield_contract_checks,
)


class _Scale(TransformerMixin, BaseEstimator):
    """An 'augmentation' whose transform is not the identity."""

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).reshape(len(X), -1).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float32) * 2

    def augment_tensor(self, x, generator):
        return x

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class _Mean(ClassifierMixin, BaseEstimator):
    """A classifier with switchable breaches of the contracts."""

    def __init__(self, touch_rng=False, layout_dependent=False, forget_on_pickle=False):
        self.touch_rng = touch_rng
        self.layout_dependent = layout_dependent
        self.forget_on_pickle = forget_on_pickle

    def fit(self, X, y):
        if self.touch_rng:
            torch.rand(1)
        self.classes_ = np.unique(y)
        self.threshold_ = float(np.mean(X)) + (
            10 if np.ndim(X) == 3 and self.layout_dependent else 0
        )
        return self

    def predict(self, X):
        means = np.asarray(X).reshape(len(X), -1).mean(axis=1)
        return self.classes_[(means > self.threshold_).astype(int)]

    def __getstate__(self):
        state = super().__getstate__()
        if self.forget_on_pickle:
            state["threshold_"] = 0.0
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def test_make_check_data():
    X, y = make_check_data()
    assert X.shape == (24, 12, 12) and X.dtype == np.float32
    assert X[y == 1].mean() > X[y == 0].mean()


def test_package_estimators_pass():
    check_estimator_contracts(DetectorMask(0.25))
    check_estimator_contracts(RandomRotation(random_state=0))
    assert check_augmentation_identity_at_transform in list(yield_contract_checks(RandomRotation()))
    check_estimator_contracts(_Mean())


def test_catches_a_transform_that_is_not_the_identity():
    with pytest.raises(AssertionError):
        check_augmentation_identity_at_transform(_Scale())


def test_catches_a_touched_global_rng():
    state = torch.get_rng_state()
    with pytest.raises(AssertionError, match="global random state"):
        check_torch_global_rng_untouched(_Mean(touch_rng=True))
    torch.set_rng_state(state)


def test_catches_layout_dependent_output():
    with pytest.raises(AssertionError):
        check_flat_and_stacked_input_agree(_Mean(layout_dependent=True))
    with pytest.raises(ValueError, match="square"):
        check_flat_and_stacked_input_agree(_Mean(), *make_check_data(shape=(3, 4)))


def test_catches_state_lost_on_pickling():
    with pytest.raises(AssertionError, match="after pickling"):
        check_pickle_round_trip(_Mean(forget_on_pickle=True))
