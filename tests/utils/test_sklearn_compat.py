"""The private scikit-learn API that skspeckle/utils/_sklearn_compat.py re-exports still exists
and behaves as the estimators rely on.

pyproject.toml bounds scikit-learn from above (``scikit-learn>=1.6,<1.10``). Raise the bound
only after this test passes on the new release: a release that moves or changes these private
names fails here, in one place, instead of inside every estimator.
"""

from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier

from skspeckle.utils import _sklearn_compat
from skspeckle.utils._sklearn_compat import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    fit_context,
)


class _Tiny(BaseEstimator):
    """The smallest estimator using the compat names the way skspeckle's estimators do."""

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, 4, closed="right")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "mode": [StrOptions({"mean", "min"})],
        "scorer": [HasMethods(["fit", "predict"]), None],
    }

    def __init__(self, alpha=0.5, n_iter=1, mode="mean", scorer=None):
        self.alpha = alpha
        self.n_iter = n_iter
        self.mode = mode
        self.scorer = scorer

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        self.fitted_ = True
        return self


def test_the_module_exports_exactly_the_names_the_package_uses():
    assert sorted(_sklearn_compat.__all__) == sorted(
        [
            "HasMethods",
            "Interval",
            "InvalidParameterError",
            "StrOptions",
            "fit_context",
            "validate_params",
        ]
    )
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_fit_context_validates_the_parameters_before_fit_runs():
    X = np.zeros((3, 2))
    assert _Tiny().fit(X).fitted_
    assert _Tiny(alpha=4, n_iter=10, mode="min", scorer=DummyClassifier()).fit(X).fitted_
    for bad in (
        {"alpha": 0},  # Interval closed on the right only
        {"alpha": 4.5},
        {"n_iter": 0},
        {"n_iter": 1.5},  # Integral: a float is refused
        {"mode": "median"},
        {"scorer": "not an estimator"},
    ):
        est = _Tiny(**bad)
        with pytest.raises(InvalidParameterError, match=next(iter(bad))):
            est.fit(X)
        assert not hasattr(est, "fitted_"), bad


def test_validate_params_checks_outside_fit():
    _sklearn_compat.validate_params(_Tiny())
    with pytest.raises(InvalidParameterError, match="alpha"):
        _sklearn_compat.validate_params(_Tiny(alpha=0))
