"""The one place that imports scikit-learn's private API.

Parameter validation (``Interval``, ``StrOptions``, ``HasMethods``) and the ``_fit_context``
decorator are what every scikit-learn estimator uses, but they live in private modules. Keeping
the imports here means a scikit-learn release that moves them breaks one file, and
``tests/utils/test_sklearn_compat.py`` says so; pyproject.toml bounds scikit-learn to the
releases this module is tested against.
"""

from sklearn.base import _fit_context as fit_context
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, StrOptions

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "fit_context",
    "validate_params",
]


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints`` now, outside
    ``fit`` (``BaseEstimator._validate_params`` is private).

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A parameter violates its constraints.
    """
    estimator._validate_params()
