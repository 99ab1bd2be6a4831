"""Which frames to label next: rank the unlabelled frames of a run for a scientist to label.

Labelling is the bottleneck of few-shot hit classification. Given the embeddings of every
frame of a run and the labels given so far, :func:`rank_for_labelling` proposes the frames
whose labels should help most, from three criteria (Settles, "Active Learning Literature
Survey", Univ. Wisconsin CS TR 1648, 2009, Secs. 3.1 and 5.1):

- **uncertainty** (uncertainty sampling, Lewis & Gale, SIGIR 1994): the frames the few-shot
  classifier is least sure of, from the margin between its two most probable classes
  (Scheffer et al., IDA 2001) or the entropy of its probabilities (Shannon), computed by a
  :class:`~skspeckle.few_shot.FewShotCentroidClassifier` fitted on the labelled frames;
- **novelty**: the frames far from every labelled class, by the open-set score
  :meth:`~skspeckle.few_shot.FewShotCentroidClassifier.novelty_score` (the aggregated
  squared distance to the nearest class, :mod:`skspeckle.open_set`);
- **diversity**: k-center greedy in the embedding (Sener & Savarese, "Active learning for
  convolutional neural networks: a core-set approach", ICLR 2018, Sec. 4.2, Algorithm 1):
  each next frame is the one farthest (Euclidean) from the labelled frames and from the
  frames already proposed, so a batch covers the run instead of piling up in one region.

``strategy="mixed"`` adds the three, each scaled to [0, 1], with the weights ``weights``:
uncertainty and novelty are converted to their rank among the unlabelled frames (fraction of
frames below), diversity is the distance to the nearest labelled or proposed frame over the
largest such distance, re-evaluated after each pick as in k-center greedy. With fewer than
two labelled classes there is no classifier, and every strategy except ``"random"`` is
diversity alone -- the first frames of a new run.
"""

from numbers import Integral

import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from skspeckle.few_shot import FewShotCentroidClassifier

__all__ = ["STRATEGIES", "rank_for_labelling", "uncertainty_scores"]

#: The strategies of :func:`rank_for_labelling`.
STRATEGIES = ("mixed", "uncertainty", "novelty", "diversity", "random")
#: Default weights of (uncertainty, novelty, diversity) of ``strategy="mixed"``, chosen a
#: priori (uncertainty first, diversity to spread a batch, a little novelty), not tuned:
#: ``benchmarks/paper/active_learning.py`` found no gain over random selection with them on
#: the online scenario (docs/results.md, "Active learning").
DEFAULT_WEIGHTS = (0.6, 0.1, 0.3)


def uncertainty_scores(proba, measure="margin"):
    """How unsure a classifier is of each query, in [0, 1] (1: most unsure).

    Parameters
    ----------
    proba : array-like of shape (n_queries, n_classes), float
        Class probabilities (rows sum to 1), e.g. ``predict_proba``.
    measure : {"margin", "entropy"}, default="margin"
        ``"margin"``: ``1 - (p_1 - p_2)``, with ``p_1 >= p_2`` the two largest probabilities
        (margin sampling, Scheffer et al., IDA 2001). ``"entropy"``: ``-sum p log p`` over
        ``log n_classes`` (Settles 2009, Sec. 3.1).

    Returns
    -------
    scores : ndarray of shape (n_queries,), float64

    Raises
    ------
    ValueError
        If ``proba`` is not 2-D with at least two columns or not finite, or ``measure`` is
        unknown.

    Examples
    --------
    >>> uncertainty_scores([[0.5, 0.5], [1.0, 0.0], [0.7, 0.3]]).round(2).tolist()
    [1.0, 0.0, 0.6]
    """
    proba = check_array(proba, dtype=np.float64)
    if proba.shape[1] < 2:
        raise ValueError(f"proba needs at least 2 classes (columns); got shape {proba.shape}.")
    if measure == "margin":
        top = np.sort(proba, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0])
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(proba > 0, proba * np.log(proba), 0.0)
        return -terms.sum(axis=1) / np.log(proba.shape[1])
    raise ValueError(f"measure must be 'margin' or 'entropy'; got {measure!r}.")


def _rank_fraction(values):
    """Each value's rank among ``values`` as a fraction in [0, 1] (ties share the lower)."""
    if len(values) < 2:
        return np.ones(len(values))
    order = np.sort(values)
    return np.searchsorted(order, values, side="left") / (len(values) - 1)


def rank_for_labelling(
    embeddings,
    labelled=(),
    y_labelled=(),
    *,
    n_frames=None,
    strategy="mixed",
    weights=DEFAULT_WEIGHTS,
    uncertainty="margin",
    aggregation="mean",
    random_state=None,
):
    """The unlabelled frames of a run in the order they should be labelled.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Embeddings of every frame of the run (e.g. ``pipe[:-1].transform(X)``); unit vectors
        for a :class:`~skspeckle.embedding.TripletEmbedder`, any finite features otherwise.
    labelled : array-like of int of shape (n_labelled,), default=()
        Indices (rows of ``embeddings``) of the frames labelled so far; no repeats.
    y_labelled : array-like of shape (n_labelled,), default=()
        Their labels. Labels that are not classes a frame should be assigned to (e.g.
        ``"unknown"``, ``"needs-help"``) are best left out by the caller; they would count as
        classes.
    n_frames : int or None, default=None
        How many frames to propose; None: every unlabelled frame (the whole order).
    strategy : {"mixed", "uncertainty", "novelty", "diversity", "random"}, default="mixed"
        What to rank by (module docstring). With fewer than two labelled classes every
        strategy but ``"random"`` is ``"diversity"``.
    weights : tuple of 3 non-negative floats, default=(0.6, 0.1, 0.3)
        Weights of (uncertainty, novelty, diversity) in ``"mixed"``, not all zero.
    uncertainty : {"margin", "entropy"}, default="margin"
        The uncertainty measure (:func:`uncertainty_scores`).
    aggregation : {"mean", "centroid", "min"}, default="mean"
        Few-shot aggregation of the classifier that scores uncertainty and novelty, fitted
        with every labelled frame as a support (``k=None``).
    random_state : int, RandomState instance or None, default=None
        Seeds ``"random"``; the other strategies are deterministic.

    Returns
    -------
    order : ndarray of int of shape (n_frames,)
        Row indices of unlabelled frames, the first to label first.

    Raises
    ------
    ValueError
        If ``embeddings`` is not 2-D and finite, ``labelled`` has repeated or out-of-range
        indices or another length than ``y_labelled``, ``n_frames`` is not a positive int,
        or ``strategy``, ``weights`` or ``uncertainty`` are invalid.

    Notes
    -----
    k-center greedy needs a first centre: with no labelled frame it is the frame nearest the
    mean embedding (deterministic, a typical frame rather than an outlier); ``random_state``
    is not used then. The cost is ``O(n_frames * n_samples * n_features)`` for diversity
    (one distance row per pick) plus one few-shot fit and prediction.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))])
    >>> first = rank_for_labelling(Z, n_frames=2)  # nothing labelled: diversity alone
    >>> sorted(int(i) // 20 for i in first)  # one frame of each cluster
    [0, 1]
    >>> nxt = rank_for_labelling(Z, first, ["a", "b"], n_frames=3)
    >>> len(nxt), bool(np.isin(nxt, first).any())
    (3, False)
    """
    Z = check_array(embeddings, dtype=np.float64)
    n = len(Z)
    labelled = np.asarray(labelled, dtype=np.int64).reshape(-1)
    y_labelled = np.asarray(y_labelled).reshape(-1)
    if len(labelled) != len(y_labelled):
        raise ValueError(
            f"labelled has {len(labelled)} indices but y_labelled {len(y_labelled)} labels; "
            "give one label per labelled frame."
        )
    if len(labelled) and (labelled.min() < 0 or labelled.max() >= n):
        raise ValueError(f"labelled holds indices outside [0, {n}) (the rows of embeddings).")
    if len(np.unique(labelled)) != len(labelled):
        raise ValueError("labelled holds repeated indices; label each frame once.")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or weights.min() < 0:
        raise ValueError(
            "weights must be 3 non-negative floats (uncertainty, novelty, diversity); got "
            f"{weights.tolist()}."
        )
    if strategy == "mixed" and weights.sum() == 0:
        raise ValueError("weights are all zero; give at least one positive weight.")
    if uncertainty not in ("margin", "entropy"):
        raise ValueError(f"uncertainty must be 'margin' or 'entropy'; got {uncertainty!r}.")
    unlabelled = np.setdiff1d(np.arange(n), labelled)
    if n_frames is None:
        n_frames = len(unlabelled)
    elif not isinstance(n_frames, Integral) or isinstance(n_frames, bool) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive int or None; got {n_frames!r}.")
    n_frames = min(int(n_frames), len(unlabelled))
    if n_frames == 0:
        return np.empty(0, dtype=np.int64)

    if strategy == "random":
        rng = check_random_state(random_state)
        return rng.permutation(unlabelled)[:n_frames]
    if len(np.unique(y_labelled)) < 2:
        strategy = "diversity"

    # Per-frame static scores over the unlabelled frames, each in [0, 1].
    static = np.zeros(len(unlabelled))
    w_diversity = 1.0
    if strategy != "diversity":
        clf = FewShotCentroidClassifier(k=None, aggregation=aggregation).fit(
            Z[labelled], y_labelled
        )
        parts = {
            "uncertainty": lambda: _rank_fraction(
                uncertainty_scores(clf.predict_proba(Z[unlabelled]), uncertainty)
            ),
            "novelty": lambda: _rank_fraction(clf.novelty_score(Z[unlabelled])),
        }
        if strategy == "mixed":
            w_u, w_n, w_diversity = weights / weights.sum()
            if w_u:
                static += w_u * parts["uncertainty"]()
            if w_n:
                static += w_n * parts["novelty"]()
        else:
            # Pure uncertainty / novelty: a sort, no diversity term.
            score = parts[strategy]()
            return unlabelled[np.argsort(-score, kind="stable")[:n_frames]]
    return _greedy(Z, unlabelled, labelled, static, w_diversity, n_frames)


def _greedy(Z, unlabelled, labelled, static, w_diversity, n_frames):
    """k-center greedy (Sener & Savarese 2018, Alg. 1) on ``static + w * distance / max``."""
    pool = Z[unlabelled]
    if len(labelled):
        nearest = pairwise_distances(pool, Z[labelled]).min(axis=1)
    else:
        # No centre yet: the first pick is the frame nearest the mean embedding.
        nearest = None
    order = []
    available = np.ones(len(pool), dtype=bool)
    for _ in range(n_frames):
        if nearest is None:
            pick = int(np.argmin(np.sum((pool - pool.mean(axis=0)) ** 2, axis=1)))
        else:
            top = nearest.max()
            diversity = nearest / top if top > 0 else np.zeros_like(nearest)
            score = np.where(available, static + w_diversity * diversity, -np.inf)
            pick = int(np.argmax(score))
        order.append(pick)
        available[pick] = False
        d = pairwise_distances(pool[pick : pick + 1], pool)[0]
        nearest = d if nearest is None else np.minimum(nearest, d)
    return unlabelled[np.asarray(order, dtype=np.int64)]
