"""The project's own contract checks, on top of scikit-learn's estimator checks.

scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks` tests the API
every estimator shares. The estimators of skspeckle promise four more things, which these
checks test on any estimator (the package's own ones in ``tests/test_common.py``, and a plugin
author's through :func:`check_estimator_contracts`):

- :func:`check_augmentation_identity_at_transform`: a fit-time-only augmentation (an object
  with ``augment_tensor``, the protocol of ``TripletEmbedder(augment=...)``) returns its input
  unchanged from ``transform``, and leaves the training frames untouched.
- :func:`check_torch_global_rng_untouched`: ``fit``, ``transform`` and ``predict`` leave
  torch's global random state as they found it (seeding happens inside
  ``torch.random.fork_rng``).
- :func:`check_flat_and_stacked_input_agree`: ``(n, H * W)`` input (with ``image_shape``) and
  ``(n, H, W)`` input give the same output, for estimators tagged ``three_d_array``.
- :func:`check_pickle_round_trip`: a fitted estimator pickles and reloads with identical
  output.

Each check takes the estimator (it is cloned, never fitted in place) and optionally the data:
frames ``X`` of shape ``(n_samples, H, W)`` and labels ``y``; by default 24 Poisson frames of
12 x 12 pixels in two classes of different mean photon count (:func:`make_check_data`).
Estimators without the ``three_d_array`` tag get the frames flattened to ``(n_samples, H * W)``.
"""

import pickle

import numpy as np

__all__ = [
    "check_augmentation_identity_at_transform",
    "check_estimator_contracts",
    "check_flat_and_stacked_input_agree",
    "check_pickle_round_trip",
    "check_torch_global_rng_untouched",
    "make_check_data",
    "yield_contract_checks",
]

# The methods whose output the checks compare, when the fitted estimator has them.
_OUTPUT_METHODS = ("predict", "predict_proba", "decision_function", "transform")


def make_check_data(n_samples=24, shape=(12, 12), random_state=0):
    """Frames and labels for the contract checks.

    Parameters
    ----------
    n_samples : int, default=24
        Number of frames, half of each class.
    shape : tuple of int, default=(12, 12)
        ``(H, W)`` of a frame in pixels.
    random_state : int, default=0
        Seed of the Poisson draws.

    Returns
    -------
    X : ndarray of shape (n_samples, H, W), float32
        Photon counts: class 0 has mean 2 photons per pixel, class 1 mean 6.
    y : ndarray of shape (n_samples,), int64
        Labels 0 and 1, alternating.

    Examples
    --------
    >>> from skspeckle.utils.estimator_checks import make_check_data
    >>> X, y = make_check_data(n_samples=4, shape=(3, 5))
    >>> X.shape, X.dtype.name, y.tolist()
    ((4, 3, 5), 'float32', [0, 1, 0, 1])
    """
    rng = np.random.default_rng(random_state)
    y = np.arange(n_samples, dtype=np.int64) % 2
    mean = np.where(y == 1, 6.0, 2.0)[:, None, None]
    X = rng.poisson(mean, size=(n_samples, *shape)).astype(np.float32)
    return X, y


def _three_d(estimator):
    from sklearn.utils import get_tags

    return bool(get_tags(estimator).input_tags.three_d_array)


def _data(estimator, X, y):
    """``X`` (a stack, flattened for estimators without 3-D support) and ``y``."""
    if X is None:
        X, y = make_check_data()
    X = np.asarray(X)
    if X.ndim == 3 and not _three_d(estimator):
        X = X.reshape(len(X), -1)
    return X, y


def _seeded_clone(estimator):
    """An unfitted copy with a fixed ``random_state`` (when it has one left at None), so two
    fits can be compared."""
    from sklearn.base import clone

    est = clone(estimator)
    if "random_state" in est.get_params(deep=False) and est.random_state is None:
        est.set_params(random_state=0)
    return est


def _outputs(estimator, X):
    """Output of every method of :data:`_OUTPUT_METHODS` the fitted estimator has, each as
    an array of shape ``(n_samples, -1)`` (transformers may keep the input layout)."""
    out = {}
    for method in _OUTPUT_METHODS:
        if hasattr(estimator, method):
            value = np.asarray(getattr(estimator, method)(X))
            out[method] = value.reshape(len(value), -1)
    return out


def _assert_same_outputs(a, b, context):
    assert a.keys() == b.keys(), f"{context}: methods {sorted(a)} vs {sorted(b)}"
    for method in a:
        np.testing.assert_array_equal(a[method], b[method], err_msg=f"{context}: {method}")


def _name(estimator):
    return type(estimator).__name__


def check_augmentation_identity_at_transform(estimator, X=None, y=None):
    """A fit-time-only augmentation returns its input unchanged from ``transform``.

    Applies to objects with an ``augment_tensor`` method (the fit-time augmentation protocol).
    After ``fit`` (and after ``fit_transform``), ``transform`` returns the frames value for
    value, as float32, in the layout (stack or flattened) of its input; ``fit_transform``
    leaves its input untouched.

    Parameters
    ----------
    estimator : estimator object
        The augmentation; cloned.
    X : array-like of shape (n_samples, H, W), default=None
        Frames; :func:`make_check_data` by default.
    y : array-like of shape (n_samples,), default=None
        Passed to ``fit``.

    Raises
    ------
    AssertionError
        If the contract is broken.
    """
    X, y = _data(estimator, X, y)
    X_before = X.copy()
    name = _name(estimator)

    def assert_identity(out, frames, when):
        assert out.shape == frames.shape, f"{name}.transform {when} changed the shape"
        assert out.dtype == np.float32, f"{name}.transform {when} returned {out.dtype}"
        np.testing.assert_array_equal(out, frames, err_msg=f"{name}.transform {when}")

    assert_identity(_seeded_clone(estimator).fit(X, y).transform(X), X, "after fit")
    est = _seeded_clone(estimator)
    est.fit_transform(X, y)
    np.testing.assert_array_equal(X, X_before, err_msg=f"{name}.fit_transform changed X")
    assert_identity(est.transform(X), X, "after fit_transform")
    if X.ndim == 3:
        flat = X.reshape(len(X), -1)
        est = _seeded_clone(estimator)
        if "image_shape" in est.get_params(deep=False):
            est.set_params(image_shape=X.shape[1:])
        assert_identity(est.fit(flat, y).transform(flat), flat, "of flattened frames")


def check_torch_global_rng_untouched(estimator, X=None, y=None):
    """``fit`` and the output methods leave torch's global random state unchanged.

    Compares :func:`torch.get_rng_state` (and, where CUDA is initialised, every device's
    state) before ``fit`` and after ``fit``, ``predict``, ``predict_proba``,
    ``decision_function`` and ``transform``. Torch is imported by this check only.

    Parameters
    ----------
    estimator : estimator object
        Cloned.
    X : array-like of shape (n_samples, H, W), default=None
        Frames; :func:`make_check_data` by default.
    y : array-like of shape (n_samples,), default=None
        Labels for ``fit``.

    Raises
    ------
    AssertionError
        If the global state changed.
    """
    import torch

    def state():
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        return [torch.get_rng_state(), *cuda]

    X, y = _data(estimator, X, y)
    before = state()
    est = _seeded_clone(estimator).fit(X, y)
    _outputs(est, X)
    after = state()
    unchanged = len(before) == len(after) and all(map(torch.equal, before, after))
    assert unchanged, f"{_name(est)} changed torch's global random state"


def check_flat_and_stacked_input_agree(estimator, X=None, y=None):
    """``(n, H * W)`` and ``(n, H, W)`` input give the same output.

    For an estimator tagged ``three_d_array``: one copy is fitted on the stack ``X``, another
    on ``X.reshape(n, -1)`` (with ``image_shape=(H, W)`` when the estimator has that
    parameter), with the same ``random_state``; every output method (and ``fit_transform``
    for transformers) must agree value for value, after flattening.

    Parameters
    ----------
    estimator : estimator object
        Cloned; a ``random_state`` left at None is set to 0 so the two fits compare.
    X : array-like of shape (n_samples, H, W), default=None
        Frames; :func:`make_check_data` with 10 x 12 pixels when the estimator has an
        ``image_shape`` parameter, 12 x 12 otherwise.
    y : array-like of shape (n_samples,), default=None
        Labels for ``fit``.

    Raises
    ------
    AssertionError
        If the outputs differ.
    ValueError
        If ``X`` is not a stack of frames, or is not square for an estimator without an
        ``image_shape`` parameter.
    """
    has_shape = "image_shape" in estimator.get_params(deep=False)
    if X is None:
        X, y = make_check_data(shape=(10, 12) if has_shape else (12, 12))
    X = np.asarray(X)
    if X.ndim != 3 or (not has_shape and X.shape[1] != X.shape[2]):
        raise ValueError(
            f"X must be a stack of frames (n, H, W), square unless the estimator has an "
            f"image_shape parameter; got shape {X.shape}."
        )
    flat = X.reshape(len(X), -1)
    stacked_est = _seeded_clone(estimator)
    flat_est = _seeded_clone(estimator)
    if has_shape:
        flat_est.set_params(image_shape=X.shape[1:])
    stacked, flattened = _outputs(stacked_est.fit(X, y), X), _outputs(flat_est.fit(flat, y), flat)
    _assert_same_outputs(stacked, flattened, f"{_name(estimator)}, (n, H, W) vs (n, H * W)")
    if hasattr(stacked_est, "fit_transform"):
        a = np.asarray(_seeded_clone(estimator).fit_transform(X, y))
        b = np.asarray(_seeded_clone(flat_est).fit_transform(flat, y))
        np.testing.assert_array_equal(
            a.reshape(len(a), -1), b.reshape(len(b), -1), err_msg="fit_transform"
        )


def check_pickle_round_trip(estimator, X=None, y=None):
    """A fitted estimator pickles and reloads with identical output.

    Parameters
    ----------
    estimator : estimator object
        Cloned, then fitted.
    X : array-like of shape (n_samples, H, W), default=None
        Frames; :func:`make_check_data` by default.
    y : array-like of shape (n_samples,), default=None
        Labels for ``fit``.

    Raises
    ------
    AssertionError
        If the reloaded estimator's output differs.
    """
    X, y = _data(estimator, X, y)
    est = _seeded_clone(estimator).fit(X, y)
    expected = _outputs(est, X)
    reloaded = pickle.loads(pickle.dumps(est))
    assert type(reloaded) is type(est)
    _assert_same_outputs(expected, _outputs(reloaded, X), f"{_name(est)} after pickling")
    _assert_same_outputs(expected, _outputs(est, X), f"{_name(est)} after being pickled")


def yield_contract_checks(estimator):
    """The contract checks that apply to an estimator.

    Parameters
    ----------
    estimator : estimator object
        Decides which checks apply (``augment_tensor`` for the augmentation check, the
        ``three_d_array`` tag for the 2-D / 3-D check); not modified.

    Yields
    ------
    check : callable
        ``check(estimator, X=None, y=None)``, raising ``AssertionError`` on a broken contract.

    Examples
    --------
    >>> from skspeckle.preprocessing import DetectorMask
    >>> from skspeckle.utils.estimator_checks import yield_contract_checks
    >>> [check.__name__ for check in yield_contract_checks(DetectorMask(0.25))]
    ['check_torch_global_rng_untouched', 'check_flat_and_stacked_input_agree', \
'check_pickle_round_trip']
    """
    if callable(getattr(estimator, "augment_tensor", None)):
        yield check_augmentation_identity_at_transform
    yield check_torch_global_rng_untouched
    if _three_d(estimator):
        yield check_flat_and_stacked_input_agree
    yield check_pickle_round_trip


def check_estimator_contracts(estimator, X=None, y=None):
    """Run every contract check that applies to an estimator.

    Parameters
    ----------
    estimator : estimator object
        Cloned by each check.
    X : array-like of shape (n_samples, H, W), default=None
        Frames; each check's default data when None.
    y : array-like of shape (n_samples,), default=None
        Labels for ``fit``.

    Raises
    ------
    AssertionError
        At the first broken contract.

    Examples
    --------
    >>> from skspeckle.preprocessing import DetectorMask
    >>> from skspeckle.utils.estimator_checks import check_estimator_contracts
    >>> check_estimator_contracts(DetectorMask(0.25))
    """
    for check in yield_contract_checks(estimator):
        check(estimator, X, y)
