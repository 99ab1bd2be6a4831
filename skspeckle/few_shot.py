"""N-way K-shot classification of embeddings against labelled support sets.

SpeckleNN does not predict labels with its network: it embeds K labelled *supports* per class
and a *query*, and gives the query the class whose supports are nearest (Sec. III.F). This
step works on any feature vectors -- the output of the ``TripletEmbedder`` or of any other
transformer -- so it also serves baselines and quick experiments.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import pairwise_distances_chunked
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from skspeckle import open_set
from skspeckle.utils._semi_supervised import labelled_mask
from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context

__all__ = ["FewShotCentroidClassifier"]


class FewShotCentroidClassifier(ClassifierMixin, BaseEstimator):
    """Classify queries by their squared Euclidean distances to K supports per class.

    ``fit`` draws ``k`` supports per class from the labelled vectors; ``predict`` gives each
    query the class with the smallest aggregated squared distance to its supports. Vectors
    labelled ``unlabeled`` (scikit-learn's semi-supervised convention) are ignored, so the
    step can end a pipeline whose embedder learns from the unlabelled frames of a run.

    Parameters
    ----------
    k : int or None, default=5
        Supports per class (the K of N-way K-shot), drawn at random without replacement from
        the samples of each class; every sample is a support when None.
    aggregation : {"mean", "centroid", "min"}, default="mean"
        How the squared distances from a query to the supports of one class become one
        distance:

        - ``"mean"``: the average of the squared distances to the K supports, as in SpeckleNN
          (Sec. III.F). It equals ``"centroid"`` plus the class's mean squared spread about
          its centroid, so a tight class wins over a diffuse one at equal centroid distance.
        - ``"centroid"``: the squared distance to the class mean (prototypical networks, Snell
          et al., NeurIPS 2017).
        - ``"min"``: the squared distance to the nearest support (1-nearest-neighbour over the
          support set).
    temperature : float, default=1.0
        Softmax temperature of ``predict_proba``, in the units of squared distance:
        ``p ∝ exp(-d / temperature)``. 1.0 is the plain softmax over negative squared distances
        of prototypical networks; between unit-norm embeddings ``d`` lies in [0, 4]. It does not
        affect ``predict``.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of supports when ``k`` is an int.
    rejection_rate : float in (0, 1) or None, default=None
        Open-set rejection (:mod:`skspeckle.open_set`): ``predict`` answers ``unknown_label``
        where the distance to the nearest class (:meth:`novelty_score`) exceeds
        ``threshold_``, the ``1 - rejection_rate`` quantile of the supports' leave-one-out
        distances, so about this fraction of known-class frames is rejected (needs 2 or more
        supports per class). None: no distance rule.
    max_distance_ratio : float in (0, 1] or None, default=None
        Reject as ambiguous where nearest / second-nearest class distance (squared) exceeds
        this (Lowe's ratio test). None: no ratio rule.
    unknown_label : str, int or float, default="unknown"
        The label ``predict`` gives rejected queries, of the type of the class labels (an int
        for integer classes) and none of them. Used only with a rejection rule.
    unlabeled : label or None, default=-1
        The value of ``y`` that marks a vector without a label, as in
        :mod:`sklearn.semi_supervised` (``-1`` in an int array, or in an object array of
        string labels; a string such as ``"unlabeled"`` works too). ``fit`` never draws such
        a vector as a support and never counts the marker as a class. None: every value is a
        class (for data whose classes include -1).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    support_ : ndarray of shape (n_supports, n_features), float64
        The supports, grouped by class in the order of ``classes_``, and sorted within a class
        so that the model does not depend on the order of the training samples.
    support_labels_ : ndarray of shape (n_supports,)
        Class label of each row of ``support_``.
    threshold_ : float
        The calibrated distance threshold; only when ``rejection_rate`` is set.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.neighbors.NearestCentroid : Centroid classifier on all training samples.

    Notes
    -----
    Distances are computed in float64, after centring queries and supports on the mean
    support (which keeps the ``|a|² + |b|² - 2 a·b`` expansion accurate), and in chunks of
    queries bounded by scikit-learn's ``working_memory`` setting. For ``"mean"`` the identity
    ``mean_j |q - s_j|² = |q - c|² + mean_j |s_j - c|²`` (``c`` the class centroid) avoids a
    query-by-support matrix.

    *Offline scenario: new supports, same embedder.* ``fit`` only draws and stores supports,
    so classifying a never-seen sample needs no retraining of the embedder: freeze the fitted
    front of the pipeline and fit a new classifier on the new sample's labelled frames::

        from sklearn.frozen import FrozenEstimator
        new = make_pipeline(FrozenEstimator(pipe[:-1]), FewShotCentroidClassifier(k=5))
        new.fit(X_support, y_support).predict(X_query)

    or, equivalently, ``FewShotCentroidClassifier(k=5).fit(pipe[:-1].transform(X_support),
    y_support)`` applied to ``pipe[:-1].transform(X_query)``.

    Examples
    --------
    The offline scenario above, with PCA standing in for ``DetectorMask`` + ``TripletEmbedder``:

    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.pipeline import make_pipeline
    >>> from skspeckle.few_shot import FewShotCentroidClassifier
    >>> rng = np.random.default_rng(0)
    >>> def sample(n, offset):  # two classes of 8x8 "frames"
    ...     y = np.repeat([0, 1], n)
    ...     return rng.normal(size=(2 * n, 8, 8)) + offset * y[:, None, None], y
    >>> X_train, y_train = sample(50, 3.0)
    >>> pipe = make_pipeline(
    ...     PCA(n_components=4), FewShotCentroidClassifier(k=5, random_state=0)
    ... ).fit(X_train.reshape(100, -1), y_train)
    >>> X_new, y_new = sample(20, -3.0)  # a new sample with its own 5 supports per class
    >>> X_new = X_new.reshape(40, -1)
    >>> new = make_pipeline(FrozenEstimator(pipe[:-1]), FewShotCentroidClassifier(k=5))
    >>> new.fit(X_new[::2], y_new[::2]).score(X_new[1::2], y_new[1::2])
    1.0
    """

    _parameter_constraints: dict = {
        "k": [Interval(Integral, 1, None, closed="left"), None],
        "aggregation": [StrOptions({"mean", "centroid", "min"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "rejection_rate": [Interval(Real, 0, 1, closed="neither"), None],
        "max_distance_ratio": [Interval(Real, 0, 1, closed="right"), None],
        "unknown_label": [str, Integral, Real],
        "unlabeled": "no_validation",
    }

    def __init__(
        self,
        k=5,
        *,
        aggregation="mean",
        temperature=1.0,
        random_state=None,
        rejection_rate=None,
        max_distance_ratio=None,
        unknown_label="unknown",
        unlabeled=-1,
    ):
        self.k = k
        self.aggregation = aggregation
        self.temperature = temperature
        self.random_state = random_state
        self.rejection_rate = rejection_rate
        self.max_distance_ratio = max_distance_ratio
        self.unknown_label = unknown_label
        self.unlabeled = unlabeled

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Draw ``k`` supports per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors (e.g. embeddings).
        y : array-like of shape (n_samples,)
            Class labels; ``unlabeled`` for the vectors without one, which are ignored.

        Returns
        -------
        self : object
            Fitted classifier.

        Raises
        ------
        ValueError
            If ``y`` has fewer than 2 classes or only ``unlabeled`` entries, a class has
            fewer than ``k`` samples, or ``X`` is empty, not 2-D or not finite. As the last
            step of a ``Pipeline`` after a ``TripletEmbedder``, the embedder makes the ``k``
            check (and this step's parameter validation) before it trains, so that a too
            large ``k`` fails in seconds, not after the training.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        labelled = self._labelled(y)
        if not labelled.all():
            X, y = X[labelled], y[labelled]
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes; got 1 class "
                f"({self.classes_.tolist()[0]!r}). Label supports of at least two classes."
            )
        self._check_class_sizes(self.classes_, np.bincount(y_index))
        rng = check_random_state(self.random_state)
        supports = []
        for c in range(len(self.classes_)):
            members = X[y_index == c]
            # Canonical (lexicographic) row order first: the draw then depends only on the set
            # of samples and random_state, and the stored supports on neither input order.
            members = members[np.lexsort(members.T[::-1])]
            if self.k is not None and self.k < len(members):
                members = members[np.sort(rng.choice(len(members), self.k, replace=False))]
            supports.append(members)
        self.support_ = np.concatenate(supports)
        self.support_labels_ = np.repeat(self.classes_, [len(s) for s in supports])
        if self.rejection_rate is not None or self.max_distance_ratio is not None:
            open_set.check_unknown_label(self.unknown_label, self.classes_)
        if self.rejection_rate is not None:
            starts = np.r_[0, np.cumsum([len(s) for s in supports])[:-1]]
            loo = open_set.leave_one_out_distances(self.support_, starts, self.aggregation)
            self.threshold_ = open_set.calibrate_threshold(loo, self.rejection_rate)
        return self

    def _labelled(self, y):
        """Boolean mask of the entries of ``y`` that are not the ``unlabeled`` marker."""
        return labelled_mask(np.asarray(y), self.unlabeled, type(self).__name__)

    def _check_class_sizes(self, classes, counts, *, where=None):
        """Raise if a class has fewer than ``k`` samples. ``where`` is ``(step path, name of
        the step)`` when an earlier step of a pipeline makes the check, before it trains."""
        if self.k is None or counts.min() >= self.k:
            return
        short = int(np.argmax(counts < self.k))
        context, fix = "", "Lower k"
        if where is not None:
            path, trainer = where
            context = (
                f" of the pipeline's last step {path!r}, checked before {trainer} trains "
                "(the classifier would fail only after it)"
            )
            fix = f"Lower k ({path}__k)"
        raise ValueError(
            f"Class {classes.tolist()[short]!r} has {counts[short]} sample(s), fewer than "
            f"k={self.k}{context}. {fix}, pass k=None to use every sample as a support, or "
            "label more samples of that class."
        )

    def _distances(self, X):
        """Aggregated squared distances, shape (n_queries, n_classes), float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # Class blocks of support_ start where the label changes (support_ is grouped).
        label_index = np.searchsorted(self.classes_, self.support_labels_)
        starts = np.flatnonzero(np.r_[True, np.diff(label_index) != 0])
        shift = self.support_.mean(axis=0)
        supports = self.support_ - shift
        if self.aggregation == "min":
            reference = supports

            def reduce(chunk, start):
                return np.minimum.reduceat(chunk, starts, axis=1)

        else:
            sizes = np.diff(np.r_[starts, len(supports)])
            centroids = np.add.reduceat(supports, starts, axis=0) / sizes[:, None]
            reference = centroids
            spread = np.zeros(len(centroids))
            if self.aggregation == "mean":
                deviations = supports - np.repeat(centroids, sizes, axis=0)
                spread = np.add.reduceat(np.sum(deviations**2, axis=1), starts) / sizes

            def reduce(chunk, start):
                return chunk + spread

        chunks = pairwise_distances_chunked(
            X - shift, reference, reduce_func=reduce, metric="euclidean", squared=True
        )
        return np.vstack(list(chunks))

    def decision_function(self, X):
        """Negative aggregated squared distances (higher means more likely).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query vectors.

        Returns
        -------
        scores : ndarray of shape (n_queries,) or (n_queries, n_classes), float64
            ``-d`` per class; for two classes, ``d[:, 0] - d[:, 1]``, positive when
            ``classes_[1]`` is nearer (scikit-learn's binary convention).

        Raises
        ------
        ValueError
            If ``X`` has another number of features than in ``fit``, or is empty or not
            finite.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        distances = self._distances(X)
        if len(self.classes_) == 2:
            return distances[:, 0] - distances[:, 1]
        return -distances

    def predict_proba(self, X):
        """Class probabilities ``softmax(-d / temperature)`` over the aggregated distances.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query vectors.

        Returns
        -------
        proba : ndarray of shape (n_queries, n_classes), float64
            Rows sum to 1, columns in the order of ``classes_``; the argmax is ``predict``.

        Raises
        ------
        ValueError
            If ``X`` has another number of features than in ``fit``, or is empty or not
            finite.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        logits = -self._distances(X) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)  # exp cannot overflow
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class with the smallest aggregated squared distance.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query vectors.

        Returns
        -------
        y_pred : ndarray of shape (n_queries,)
            Labels from ``classes_``, or ``unknown_label`` where a rejection rule rejects
            (``score`` then counts the query as wrong); ties go to the first class.

        Raises
        ------
        ValueError
            If ``X`` has another number of features than in ``fit``, or is empty or not
            finite.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        distances = self._distances(X)  # checks the fit before classes_ is read
        if self.rejection_rate is None and self.max_distance_ratio is None:
            return self.classes_[np.argmin(distances, axis=1)]
        threshold = self.threshold_ if self.rejection_rate is not None else None
        return open_set.predict_with_rejection(
            self.classes_, distances, threshold, self.max_distance_ratio, self.unknown_label
        )

    def novelty_score(self, X):
        """Aggregated squared distance to the nearest class (higher means more novel).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query vectors.

        Returns
        -------
        scores : ndarray of shape (n_queries,), float64
            ``min`` over classes of the distances of ``decision_function``; queries above
            ``threshold_`` are those ``rejection_rate`` rejects.
        """
        return open_set.novelty_scores(self._distances(X))
