"""Discovery of the package's estimators, in the spirit of :mod:`sklearn.utils.discovery`."""

import inspect
import pkgutil
from importlib import import_module
from operator import itemgetter

__all__ = ["all_estimators"]

# Not walked: running ``skspeckle.__main__`` starts the command line.
_MODULES_TO_SKIP = {"__main__"}

_TYPE_FILTERS = ("classifier", "regressor", "transformer", "cluster")


def _public_modules():
    """Import and yield every public module of the package (no ``_`` part in its name)."""
    package = import_module("skspeckle")
    yield package
    for info in pkgutil.walk_packages(package.__path__, prefix="skspeckle."):
        parts = info.name.split(".")
        if any(part.startswith("_") or part in _MODULES_TO_SKIP for part in parts[1:]):
            continue
        yield import_module(info.name)


def all_estimators(type_filter=None):
    """List the public estimators of skspeckle.

    Walks the package with :mod:`pkgutil`, imports every public module (this loads torch,
    h5py and gemmi) and collects the classes that subclass
    :class:`sklearn.base.BaseEstimator` and are defined in a public module of skspeckle.
    Classes named with a leading underscore, classes defined in private modules (such as the
    shared base :class:`~skspeckle.baselines._classifier.NeuralNetClassifier`) and abstract
    classes (with unimplemented ``abc.abstractmethod`` members) are left out, as are
    scikit-learn's own classes re-exported by a module.

    Parameters
    ----------
    type_filter : {"classifier", "regressor", "transformer", "cluster"}, list of them \
            or None, default=None
        Keep only the estimators of these kinds (by their scikit-learn mixin:
        ``ClassifierMixin``, ``RegressorMixin``, ``TransformerMixin``, ``ClusterMixin``); a
        list keeps those of at least one kind. None keeps all.

    Returns
    -------
    estimators : list of (str, type)
        ``(class name, class)`` pairs sorted by name, each class once.

    Raises
    ------
    ValueError
        If ``type_filter`` names an unknown kind.

    See Also
    --------
    sklearn.utils.discovery.all_estimators : The same for scikit-learn's estimators.

    Examples
    --------
    >>> from skspeckle.utils.discovery import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "TripletEmbedder" in names and "NeuralNetClassifier" not in names
    True
    >>> [name for name, _ in all_estimators(type_filter="classifier")][:2]
    ['CNN1DClassifier', 'DANNClassifier']
    """
    from sklearn.base import (
        BaseEstimator,
        ClassifierMixin,
        ClusterMixin,
        RegressorMixin,
        TransformerMixin,
    )

    mixins = dict(
        zip(_TYPE_FILTERS, (ClassifierMixin, RegressorMixin, TransformerMixin, ClusterMixin))
    )
    if type_filter is None:
        kinds = None
    else:
        kinds = [type_filter] if isinstance(type_filter, str) else list(type_filter)
        unknown = [kind for kind in kinds if kind not in mixins]
        if unknown:
            raise ValueError(
                f"type_filter must be one of {list(_TYPE_FILTERS)}, a list of them or None; "
                f"got {type_filter!r}."
            )

    found = set()
    for module in _public_modules():
        for name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and not name.startswith("_")
                and cls.__module__ == module.__name__  # defined here, not re-exported
                and issubclass(cls, BaseEstimator)
                and not inspect.isabstract(cls)
            ):
                found.add((name, cls))
    estimators = found
    if kinds is not None:
        estimators = [
            (name, cls)
            for name, cls in estimators
            if any(issubclass(cls, mixins[kind]) for kind in kinds)
        ]
    return sorted(estimators, key=itemgetter(0))
