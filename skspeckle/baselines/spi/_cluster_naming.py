"""The transductive part shared by the manifold baselines: embed all frames, cluster the
embedding with k-means, and name the clusters by the few labelled frames among them."""

from abc import ABCMeta, abstractmethod
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from skspeckle.baselines.spi.pca_svc import frames_to_vectors
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import Interval, fit_context

__all__ = ["ClusterNamingClassifier"]


class ClusterNamingClassifier(ClassifierMixin, BaseEstimator, metaclass=ABCMeta):
    """Base of the classifiers that cluster an embedding of all frames and name the clusters.

    ``fit`` embeds every frame it is given (``_embed``, on ``log(1 + photons)`` vectors),
    clusters the embedding with k-means, and gives each cluster the majority label of its
    labelled frames; a cluster without labelled frames takes the label of the nearest labelled
    cluster centre. Subclasses declare their parameters (``n_clusters``, ``n_components``,
    ``n_neighbors``, ``unlabeled``, ``random_state`` at least) and implement ``_embed`` and
    ``predict``.

    Fitted attributes: ``classes_``, ``transduction_``, ``cluster_labels_``, ``labels_``,
    ``embedding_``, ``image_shape_``, ``n_features_in_``; ``_kmeans`` keeps the fitted k-means.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "unlabeled": "no_validation",
        "random_state": ["random_state"],
    }

    @abstractmethod
    def _embed(self, vectors, n_components, seed):
        """Embedding of shape (n_samples, n_components) of all the fitted frames' vectors."""

    @abstractmethod
    def predict(self, X):
        """Labels of new frames, of shape (n_samples,)."""

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Embed and cluster all frames, and name the clusters from the labelled ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            All frames, labelled and unlabelled, in photons; finite.
        y : array-like of shape (n_samples,)
            Labels, ``unlabeled`` for the frames without one.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        ValueError
            If ``y`` is missing or has no labelled frame, or there are no more frames than
            ``n_clusters`` (or the embedding dimension + 1).
        """
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: "
                "label a few frames and mark the rest as unlabeled."
            )
        X = validate_images(self, X, reset=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        labelled = np.array([v != self.unlabeled for v in y.tolist()], dtype=bool)
        if not labelled.any():
            raise ValueError(
                f"{name}: every frame is marked unlabeled={self.unlabeled!r}; "
                "label at least one frame per class."
            )
        check_classification_targets(y[labelled])
        n = len(X)
        dim = self.n_clusters if self.n_components is None else self.n_components
        if n <= max(self.n_clusters, dim + 1):
            raise ValueError(
                f"{name} needs more frames than n_clusters={self.n_clusters} and than "
                f"n_components + 1={dim + 1}; got n_samples={n}."
            )
        rng = check_random_state(self.random_state)
        self.embedding_ = self._embed(frames_to_vectors(X), dim, rng.randint(2**31 - 1))
        self._kmeans = KMeans(self.n_clusters, n_init=10, random_state=rng.randint(2**31 - 1))
        self.labels_ = self._kmeans.fit_predict(self.embedding_)
        self.classes_, y_enc = np.unique(y[labelled], return_inverse=True)
        votes = np.zeros((self.n_clusters, len(self.classes_)))
        np.add.at(votes, (self.labels_[labelled], y_enc), 1)
        named = votes.sum(axis=1) > 0
        cluster_class = votes.argmax(axis=1)
        centres = self._kmeans.cluster_centers_
        for c in np.flatnonzero(~named):
            d = ((centres[named] - centres[c]) ** 2).sum(axis=1)
            cluster_class[c] = cluster_class[named][np.argmin(d)]
        self.cluster_labels_ = self.classes_[cluster_class]
        self.transduction_ = self.cluster_labels_[self.labels_]
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.classifier_tags.poor_score = True  # unsupervised clusters, named afterwards
        return tags
