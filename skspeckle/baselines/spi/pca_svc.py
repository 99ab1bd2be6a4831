"""The PCA + SVM baseline of single-hit sorting: log-scaled pixels, PCA, a support-vector
machine (supervised, on the labelled frames)."""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVC

__all__ = ["frames_to_vectors", "make_pca_svc"]


def frames_to_vectors(X):
    """Flatten frames to vectors of ``log(1 + photons)`` (negative values clipped to 0).

    Parameters
    ----------
    X : array-like of shape (n_samples, H, W) or (n_samples, n_pixels)
        Photon counts.

    Returns
    -------
    ndarray of shape (n_samples, n_pixels), float32
    """
    X = np.asarray(X, dtype=np.float32)
    return np.log1p(np.clip(X, 0, None)).reshape(len(X), -1)


def make_pca_svc(
    n_components=20, *, kernel="rbf", C=1.0, gamma="scale", class_weight=None, random_state=None
):
    """PCA followed by a support vector machine, after Bobkov et al. (2015).

    Frames are flattened to ``log(1 + photons)`` vectors (:func:`frames_to_vectors`),
    projected on their first ``n_components`` principal components, and classified by an SVM.

    Parameters
    ----------
    n_components : int, float or None, default=20
        Principal components kept (see :class:`sklearn.decomposition.PCA`).
    kernel, C, gamma, class_weight
        Passed to :class:`sklearn.svm.SVC`.
    random_state : int, RandomState instance or None, default=None
        Seeds PCA's randomised solver.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"log_flatten"``, ``"pca"``, ``"svc"``; grid-search them as
        ``pca__n_components``, ``svc__C``.

    Notes
    -----
    Bobkov, Teslyuk, Kurta et al., "Sorting algorithms for single-particle imaging experiments
    at X-ray free-electron lasers", J. Synchrotron Rad. 22, 1345-1352 (2015): PCA of the
    diffraction patterns and an SVM trained on a labelled subset. The logarithm compresses the
    orders of magnitude between the low-q and high-q intensities, as for the CNNs.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines import make_pca_svc
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 8, 8)).astype(np.float32)
    >>> y = np.repeat([0, 1], 20)
    >>> X[y == 1] *= 3
    >>> make_pca_svc(5).fit(X, y).score(X, y)
    1.0
    """
    return Pipeline(
        [
            ("log_flatten", FunctionTransformer(frames_to_vectors)),
            ("pca", PCA(n_components=n_components, random_state=random_state)),
            ("svc", SVC(kernel=kernel, C=C, gamma=gamma, class_weight=class_weight)),
        ]
    )
