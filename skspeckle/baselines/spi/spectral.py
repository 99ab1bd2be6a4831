"""Spectral clustering of all frames, clusters named by a few labelled frames (the unsupervised
baseline of single-hit sorting)."""

from sklearn.manifold import SpectralEmbedding
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from skspeckle.baselines.spi._cluster_naming import ClusterNamingClassifier
from skspeckle.baselines.spi.pca_svc import frames_to_vectors
from skspeckle.utils._images import validate_images

__all__ = ["SpectralFewShotClassifier"]


class SpectralFewShotClassifier(ClusterNamingClassifier):
    """Spectral clustering of all frames, clusters named by a few labelled frames.

    ``fit`` embeds *all* the frames it is given -- labelled and unlabelled -- with Laplacian
    eigenmaps (the spectral embedding of a nearest-neighbour graph of ``log(1 + photons)``
    vectors), clusters the embedding with k-means, and gives each cluster the majority label of
    its labelled frames; a cluster without labelled frames takes the label of the nearest
    labelled cluster in the embedding. The method is transductive: pass the frames to classify
    to ``fit`` with the label ``unlabeled`` and read ``transduction_``. ``predict`` on new
    frames gives each the label of its nearest fitted frame (pixel space), an approximation
    that needs no new embedding.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of k-means clusters (more clusters than classes lets a class span several).
    n_components : int or None, default=None
        Dimension of the spectral embedding; ``n_clusters`` when None.
    n_neighbors : int, default=10
        Neighbours of the affinity graph (capped at ``n_samples - 1``).
    unlabeled : label, default=-1
        The label of unlabelled frames in ``y`` (scikit-learn's semi-supervised convention;
        use e.g. ``"unlabeled"`` with string labels).
    random_state : int, RandomState instance or None, default=None
        Seeds the eigensolver and k-means.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels of the labelled frames.
    transduction_ : ndarray of shape (n_samples,)
        The label given to every frame passed to ``fit``.
    cluster_labels_ : ndarray of shape (n_clusters,)
        Label of each cluster.
    labels_ : ndarray of shape (n_samples,), int
        Cluster of every frame passed to ``fit``.
    embedding_ : ndarray of shape (n_samples, n_components)
        Spectral embedding of the frames passed to ``fit``.
    image_shape_, n_features_in_
        Frame shape and ``X.shape[1]`` seen in ``fit``.

    Notes
    -----
    Yoon, Schwander, Abergel et al., "Unsupervised classification of single-particle X-ray
    diffraction snapshots by spectral clustering", Optics Express 19, 16542 (2011); here with
    scikit-learn's :class:`~sklearn.manifold.SpectralEmbedding` (normalised graph Laplacian)
    and :class:`~sklearn.cluster.KMeans`. The cost of ``fit`` grows faster than linearly with
    the number of frames (SpeckleNN Sec. I), unlike the CNNs.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.baselines import SpectralFewShotClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 8, 8)).astype(np.float32)
    >>> y = np.full(40, -1)
    >>> y[[0, 1, 20, 21]] = [0, 0, 1, 1]
    >>> clf = SpectralFewShotClassifier(n_clusters=4, random_state=0).fit(X, y)
    >>> clf.transduction_.shape, clf.classes_.tolist()
    ((40,), [0, 1])
    """

    def __init__(
        self, n_clusters=8, *, n_components=None, n_neighbors=10, unlabeled=-1, random_state=None
    ):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.unlabeled = unlabeled
        self.random_state = random_state

    def _embed(self, vectors, n_components, seed):
        # Laplacian eigenmaps have no out-of-sample extension: predict goes by the nearest
        # fitted frame instead.
        self._neighbors = NearestNeighbors(n_neighbors=1).fit(vectors)
        return SpectralEmbedding(
            n_components=n_components,
            affinity="nearest_neighbors",
            n_neighbors=min(self.n_neighbors, len(vectors) - 1),
            random_state=seed,
        ).fit_transform(vectors)

    def predict(self, X):
        """Label of the nearest frame seen in ``fit`` (squared distance of ``log(1 +
        photons)`` vectors); for those frames themselves, ``transduction_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        check_is_fitted(self, "transduction_")
        X = validate_images(self, X, reset=False)
        nearest = self._neighbors.kneighbors(frames_to_vectors(X), return_distance=False)[:, 0]
        return self.transduction_[nearest]
