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

from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context, validate_params

__all__ = ["FewShotCentroidClassifier"]


class FewShotCentroidClassifier(ClassifierMixin, BaseEstimator):
    """Classify queries by their squared Euclidean distances to K supports per class.

    ``fit`` draws ``k`` supports per class from the labelled vectors; ``predict`` gives each
    query the class with the smallest aggregated squared distance to its supports.

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

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    support_ : ndarray of shape (n_supports, n_features), float64
        The supports, grouped by class in the order of ``classes_``, and sorted within a class
        so that the model does not depend on the order of the training samples.
    support_labels_ : ndarray of shape (n_supports,)
        Class label of each row of ``support_``.
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
    }

    def __init__(self, k=5, *, aggregation="mean", temperature=1.0, random_state=None):
        self.k = k
        self.aggregation = aggregation
        self.temperature = temperature
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Draw ``k`` supports per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Labelled feature vectors (e.g. embeddings).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
            Fitted classifier.

        Raises
        ------
        ValueError
            If ``y`` has fewer than 2 classes, a class has fewer than ``k`` samples, or ``X``
            is empty, not 2-D or not finite. As the last step of a ``Pipeline`` after a
            ``TripletEmbedder``, the embedder makes the ``k`` check (and this step's
            parameter validation) before it trains, so that a too large ``k`` fails in
            seconds, not after the training.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
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
        return self

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
            Labels from ``classes_``; ties go to the first class in ``classes_``.

        Raises
        ------
        ValueError
            If ``X`` has another number of features than in ``fit``, or is empty or not
            finite.
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        """
        distances = self._distances(X)  # checks the fit before classes_ is read
        return self.classes_[np.argmin(distances, axis=1)]


def _check_pipeline_supports(pipelines, y, trainer):
    """Fail now where a ``FewShotCentroidClassifier`` ending a pipeline would fail later.

    A step that trains for minutes (``TripletEmbedder``) calls this at the start of its
    ``fit``: when a pipeline fitting it ends with a ``FewShotCentroidClassifier``, that
    classifier receives the same ``y`` after the training, and its ``fit`` would refuse a
    class with fewer than ``k`` samples only then. Its parameters are validated as its
    ``fit`` would.

    Parameters
    ----------
    pipelines : list of (Pipeline, str)
        The pipelines fitting the calling step, innermost first, each with the name of the
        step that is the step or the previous pipeline
        (:func:`skspeckle.utils._callers.calling_pipelines`).
    y : array-like of shape (n_samples,)
        The labels the calling step received, validated.
    trainer : str
        Name of the calling step, for the message.

    Raises
    ------
    ValueError
        If a class of ``y`` has fewer than ``k`` samples; the message names the classifier's
        step and its ``k`` parameter as ``set_params`` spells it.
    sklearn.utils._param_validation.InvalidParameterError
        If the classifier's parameters are invalid.
    """
    names = [name for _, name in pipelines]
    for i, (pipeline, child) in enumerate(pipelines):
        last, final = pipeline.steps[-1]
        if last == child or not isinstance(final, FewShotCentroidClassifier):
            continue
        # Always: the calling fit runs with nested validation switched off.
        validate_params(final)
        classes, counts = np.unique(y, return_counts=True)
        path = "__".join([*reversed(names[i + 1 :]), last])
        final._check_class_sizes(classes, counts, where=(path, trainer))
