"""Figures of speckle patterns, embeddings and run statistics, as scikit-learn ``*Display``s.

Each display follows scikit-learn's visualisation API (``sklearn.metrics.RocCurveDisplay``):
a class method computes what is drawn -- ``from_estimator`` from a fitted model and frames,
``from_predictions`` (or ``from_frames`` / ``from_embeddings``) from arrays already at hand --
and calls :meth:`plot`, which draws on ``ax`` (a new figure when None) and stores the
matplotlib objects in attributes ending in ``_`` (``ax_``, ``figure_`` and the artists), so
that a figure can be restyled or redrawn on other axes. The confusion matrix is scikit-learn's
own :class:`sklearn.metrics.ConfusionMatrixDisplay`, re-exported here.

- :class:`FrameGalleryDisplay`: example frames per class on a log colour scale, e.g. the
  supports of a fitted pipeline (SpeckleNN's Figs. 4, 8 and 9 show such galleries).
- :class:`EmbeddingMapDisplay`: a 2-D PCA map of the embeddings, coloured by label.
- :class:`AccuracyCurveDisplay`: accuracy against a per-frame or per-experiment quantity
  (photon fluence, labelled frames per class), with 95 % Wilson intervals.
- :class:`ClassFractionDisplay`: the fraction of each predicted class along a run (frame
  index, train id), i.e. the hit rate over time.

matplotlib comes with the ``plot`` extra (``pip install 'skspeckle[plot]'``) and is imported
only when a figure is drawn.
"""

import numpy as np

# scikit-learn's own display (it imports matplotlib only when it draws), re-exported.
from sklearn.metrics import ConfusionMatrixDisplay

from skspeckle.utils._optional import import_optional

__all__ = [
    "AccuracyCurveDisplay",
    "ClassFractionDisplay",
    "ConfusionMatrixDisplay",
    "EmbeddingMapDisplay",
    "FrameGalleryDisplay",
]


def _pyplot():
    return import_optional("matplotlib.pyplot", "plot", purpose="skspeckle.plot")


def _axes(ax, **subplots):
    """``(figure, ax)``: the given axes' figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    return _pyplot().subplots(**subplots)


def _frames(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"frames must be (n_frames, H, W); got shape {X.shape}.")
    return X


def _wilson(k, n, z=1.959964):
    """95 % Wilson score interval of a proportion k / n (Wilson, JASA 22, 1927)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


class FrameGalleryDisplay:
    """Frames in a grid, one row per class, on a log colour scale: ``log10(1 + counts)``.

    Parameters
    ----------
    frames : ndarray of shape (n_shown, H, W)
        The frames shown, row by row.
    labels : ndarray of shape (n_shown,)
        Class of each frame (the row it is in).
    mask : ndarray of bool of shape (H, W) or None, default=None
        Detector mask, True = good pixel; masked pixels are drawn grey.
    titles : list of str or None, default=None
        One caption per frame (e.g. its index in the run).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (n_classes, n_columns)
    images_ : list of matplotlib AxesImage
        One per frame, in the order of ``frames``.
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspeckle.plot import FrameGalleryDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, size=(6, 16, 16))
    >>> y = np.array(["single-hit", "multi-hit"] * 3)
    >>> disp = FrameGalleryDisplay.from_frames(X, y, n_per_class=2)
    >>> disp.axes_.shape, len(disp.images_)
    ((2, 2), 4)
    """

    def __init__(self, frames, labels, *, mask=None, titles=None):
        self.frames = frames
        self.labels = labels
        self.mask = mask
        self.titles = titles

    def plot(self, *, figure=None, cmap="viridis", vmax=None, row_labels=True):
        """Draw the gallery.

        Parameters
        ----------
        figure : matplotlib Figure or None, default=None
            Figure to draw into (its content is cleared); a new one when None.
        cmap : str, default="viridis"
        vmax : float or None, default=None
            Top of the colour scale in ``log10(1 + counts)``; the largest frame value when
            None, the same for every frame so that the frames compare.
        row_labels : bool, default=True
            Name each row's class on its first frame.

        Returns
        -------
        self : FrameGalleryDisplay
        """
        frames = _frames(self.frames)
        labels = np.asarray(self.labels)
        classes = list(dict.fromkeys(labels.tolist()))
        n_cols = max(int(np.sum(labels == c)) for c in classes)
        if figure is None:
            figure = _pyplot().figure(figsize=(1.6 * n_cols, 1.7 * len(classes)))
        figure.clear()
        axes = np.atleast_2d(figure.subplots(len(classes), n_cols, squeeze=False))
        shown = np.log10(1 + np.clip(frames, 0, None))
        if self.mask is not None:
            shown = np.ma.masked_array(shown, np.broadcast_to(~np.asarray(self.mask), shown.shape))
        top = float(shown.max()) if vmax is None else vmax
        matplotlib = import_optional("matplotlib", "plot", purpose="skspeckle.plot")
        colours = matplotlib.colormaps[cmap].with_extremes(bad="0.6")
        self.images_ = [None] * len(frames)
        for r, c in enumerate(classes):
            for j, i in enumerate(np.flatnonzero(labels == c)):
                ax = axes[r, j]
                self.images_[i] = ax.imshow(shown[i], cmap=colours, vmin=0, vmax=top)
                if self.titles is not None:
                    ax.set_title(str(self.titles[i]), fontsize=7)
                if row_labels and j == 0:
                    ax.set_ylabel(str(c), fontsize=8)
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
            if not ax.images:
                ax.set_axis_off()
        self.axes_, self.figure_ = axes, figure
        return self

    @classmethod
    def from_frames(
        cls, X, y, *, n_per_class=5, classes=None, mask=None, random_state=None, **plot_kw
    ):
        """Up to ``n_per_class`` frames of each class, drawn at random (the first ones when
        ``random_state`` is None).

        Parameters
        ----------
        X : array-like of shape (n_frames, H, W)
            Frames (photons or ADU).
        y : array-like of shape (n_frames,)
            Their labels (true or predicted).
        n_per_class : int, default=5
        classes : list or None, default=None
            Row order; the sorted labels of ``y`` when None.
        mask : ndarray of bool of shape (H, W) or None
        random_state : int, Generator or None, default=None
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : FrameGalleryDisplay

        Raises
        ------
        ValueError
            If ``X`` is not 3-D or ``y`` has another length.
        """
        X, y = _frames(X), np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} frames but y has {len(y)} labels.")
        rng = None if random_state is None else np.random.default_rng(random_state)
        picked = []
        for c in np.unique(y) if classes is None else classes:
            members = np.flatnonzero(y == c)
            if rng is not None:
                members = rng.permutation(members)
            picked.extend(members[:n_per_class])
        picked = np.asarray(picked, dtype=int)
        return cls(X[picked], y[picked], mask=mask, titles=[f"#{i}" for i in picked]).plot(
            **plot_kw
        )

    @classmethod
    def from_estimator(cls, estimator, X, *, mask=None, **plot_kw):
        """The supports of a fitted pipeline ``... -> FewShotCentroidClassifier``.

        The classifier stores the supports' embeddings (``support_``); their frames are the
        frames of ``X`` whose embeddings (``estimator[:-1].transform(X)``) they are, so pass
        the frames the classifier was fitted on.

        Parameters
        ----------
        estimator : fitted Pipeline
            Its last step has ``support_`` and ``support_labels_``.
        X : array-like of shape (n_frames, H, W)
            The frames the pipeline was fitted on.
        mask : ndarray of bool of shape (H, W) or None
            E.g. the DetectorMask's visible area.
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : FrameGalleryDisplay

        Raises
        ------
        ValueError
            If a support is not the embedding of any frame of ``X``.
        """
        final = estimator[-1]
        Z = np.asarray(estimator[:-1].transform(X), dtype=np.float64)
        d = ((final.support_[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
        index = d.argmin(axis=1)
        if not np.allclose(d[np.arange(len(index)), index], 0, atol=1e-8):
            raise ValueError(
                "Some supports are not embeddings of frames in X; pass the frames the "
                "classifier was fitted on."
            )
        return cls(
            _frames(X)[index],
            final.support_labels_,
            mask=mask,
            titles=[f"#{i}" for i in index],
        ).plot(**plot_kw)


class EmbeddingMapDisplay:
    """Embeddings projected on their first two principal components, coloured by label.

    Parameters
    ----------
    coordinates : ndarray of shape (n_frames, 2)
        Map coordinates (e.g. PCA of the embeddings).
    labels : ndarray of shape (n_frames,)
        Colour key of each point (true or predicted class).
    explained_variance_ratio : ndarray of shape (2,) or None, default=None
        Shown on the axis labels.

    Attributes
    ----------
    scatters_ : dict of label -> matplotlib PathCollection
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspeckle.plot import EmbeddingMapDisplay
    >>> Z = np.random.default_rng(0).normal(size=(20, 8))
    >>> disp = EmbeddingMapDisplay.from_embeddings(Z, ["a", "b"] * 10)
    >>> sorted(disp.scatters_), disp.coordinates.shape
    (['a', 'b'], (20, 2))
    """

    def __init__(self, coordinates, labels, *, explained_variance_ratio=None):
        self.coordinates = coordinates
        self.labels = labels
        self.explained_variance_ratio = explained_variance_ratio

    def plot(self, *, ax=None, s=12, alpha=0.8):
        """Draw the map.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
        s : float, default=12
            Marker size.
        alpha : float, default=0.8

        Returns
        -------
        self : EmbeddingMapDisplay
        """
        figure, ax = _axes(ax)
        labels = np.asarray(self.labels)
        self.scatters_ = {}
        for c in np.unique(labels):
            xy = self.coordinates[labels == c]
            self.scatters_[c.item() if hasattr(c, "item") else c] = ax.scatter(
                xy[:, 0], xy[:, 1], s=s, alpha=alpha, label=str(c)
            )
        evr = self.explained_variance_ratio
        names = [f"PC {i + 1}" + ("" if evr is None else f" ({evr[i]:.0%})") for i in range(2)]
        ax.set(xlabel=names[0], ylabel=names[1])
        ax.legend(fontsize=8)
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_embeddings(cls, Z, labels, **plot_kw):
        """PCA map (``sklearn.decomposition.PCA(n_components=2)``) of embeddings ``Z``.

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_features)
        labels : array-like of shape (n_frames,)
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingMapDisplay

        Raises
        ------
        ValueError
            If ``Z`` has fewer than 2 features or rows, is not finite, or ``labels`` has
            another length.
        """
        from sklearn.decomposition import PCA

        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or min(Z.shape) < 2 or not np.isfinite(Z).all():
            raise ValueError(
                f"Z must be finite, (n_frames >= 2, n_features >= 2); got shape {Z.shape}."
            )
        if len(labels) != len(Z):
            raise ValueError(f"Z has {len(Z)} rows but labels has {len(labels)} entries.")
        pca = PCA(n_components=2).fit(Z)
        return cls(
            pca.transform(Z),
            np.asarray(labels),
            explained_variance_ratio=pca.explained_variance_ratio_,
        ).plot(**plot_kw)

    @classmethod
    def from_estimator(cls, estimator, X, y=None, **plot_kw):
        """Map of ``estimator[:-1].transform(X)``, coloured by ``y`` or, when None, by
        ``estimator.predict(X)``.

        Parameters
        ----------
        estimator : fitted Pipeline
            E.g. ``DetectorMask -> TripletEmbedder -> FewShotCentroidClassifier``.
        X : array-like of shape (n_frames, H, W)
        y : array-like of shape (n_frames,) or None, default=None
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingMapDisplay
        """
        Z = estimator[:-1].transform(X)
        labels = estimator[-1].predict(Z) if y is None else y
        return cls.from_embeddings(Z, labels, **plot_kw)


class AccuracyCurveDisplay:
    """Accuracy against a quantity, with 95 % Wilson intervals.

    Parameters
    ----------
    x : ndarray of shape (n_points,)
        The quantity: e.g. photons per pulse (fluence), labelled frames per class.
    accuracy : ndarray of shape (n_points,)
    lower, upper : ndarray of shape (n_points,) or None, default=None
        Interval bounds, drawn as a band.
    n_frames : ndarray of shape (n_points,) or None, default=None
        Frames behind each point.
    name : str or None, default=None
        Legend entry (e.g. the method or the selection strategy).
    xlabel : str, default="photons per pulse"

    Attributes
    ----------
    line_ : matplotlib Line2D
    band_ : matplotlib PolyCollection or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspeckle.plot import AccuracyCurveDisplay
    >>> y = np.array(["a", "a", "b", "b", "a", "b"])
    >>> pred = np.array(["a", "b", "b", "b", "a", "a"])
    >>> labels_per_class = np.array([5, 5, 5, 20, 20, 20])
    >>> disp = AccuracyCurveDisplay.from_predictions(
    ...     y, pred, labels_per_class, xlabel="labelled frames per class"
    ... )
    >>> disp.x.tolist(), disp.accuracy.round(3).tolist()
    ([5.0, 20.0], [0.667, 0.667])
    """

    def __init__(
        self, x, accuracy, *, lower=None, upper=None, n_frames=None, name=None, xlabel=None
    ):
        self.x = x
        self.accuracy = accuracy
        self.lower = lower
        self.upper = upper
        self.n_frames = n_frames
        self.name = name
        self.xlabel = xlabel

    def plot(self, *, ax=None, name=None, xscale="linear", **kwargs):
        """Draw the curve (and its band).

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Draw several curves (methods, strategies) on the same axes.
        name : str or None, default=None
            Legend entry; ``self.name`` when None.
        xscale : {"linear", "log"}, default="linear"
            "log" for fluence.
        **kwargs
            Passed to ``Axes.plot``.

        Returns
        -------
        self : AccuracyCurveDisplay
        """
        figure, ax = _axes(ax)
        name = self.name if name is None else name
        (self.line_,) = ax.plot(self.x, self.accuracy, "o-", label=name, **kwargs)
        self.band_ = None
        if self.lower is not None and self.upper is not None:
            self.band_ = ax.fill_between(
                self.x, self.lower, self.upper, alpha=0.2, color=self.line_.get_color()
            )
        ax.set(xlabel=self.xlabel or "photons per pulse", ylabel="accuracy", xscale=xscale)
        ax.set_ylim(0, 1.02)
        if name is not None:
            ax.legend(fontsize=8)
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_predictions(cls, y_true, y_pred, x, *, bins=None, name=None, xlabel=None, **plot_kw):
        """Accuracy per value of ``x`` (or per bin of it).

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_frames,)
        x : array-like of shape (n_frames,)
            The quantity of each frame (its fluence, or the labelled-set size of the
            experiment that predicted it).
        bins : int, array-like or None, default=None
            None: one point per distinct value of ``x``; else bin edges (or a number of
            equal-count bins), each point at the bin's median ``x``.
        name, xlabel : str or None
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : AccuracyCurveDisplay

        Raises
        ------
        ValueError
            If the arrays differ in length or ``x`` is not finite.
        """
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        x = np.asarray(x, dtype=np.float64)
        if not len(y_true) == len(y_pred) == len(x):
            raise ValueError(
                f"y_true, y_pred and x must have the same length; got {len(y_true)}, "
                f"{len(y_pred)} and {len(x)}."
            )
        if not np.isfinite(x).all():
            raise ValueError("x has non-finite values; leave those frames out.")
        if bins is None:
            points, which = np.unique(x, return_inverse=True)
        else:
            if np.ndim(bins) == 0:
                bins = np.unique(np.quantile(x, np.linspace(0, 1, int(bins) + 1)))
            which = np.clip(np.searchsorted(bins, x, side="right") - 1, 0, len(bins) - 2)
            used = np.unique(which)
            points = np.array([np.median(x[which == b]) for b in used])
            which = np.searchsorted(used, which)
        correct = np.bincount(which, weights=(y_true == y_pred), minlength=len(points))
        n = np.bincount(which, minlength=len(points))
        lower, upper = _wilson(correct, n)
        return cls(
            points,
            correct / n,
            lower=lower,
            upper=upper,
            n_frames=n,
            name=name,
            xlabel=xlabel,
        ).plot(**plot_kw)

    @classmethod
    def from_estimator(cls, estimator, X, y, x, *, bins=None, name=None, xlabel=None, **plot_kw):
        """:meth:`from_predictions` with ``estimator.predict(X)``.

        Returns
        -------
        display : AccuracyCurveDisplay
        """
        return cls.from_predictions(
            y, estimator.predict(X), x, bins=bins, name=name, xlabel=xlabel, **plot_kw
        )


class ClassFractionDisplay:
    """Fraction of frames of each predicted class along a run, window by window.

    Parameters
    ----------
    position : ndarray of shape (n_windows,)
        Centre of each window (frame index or train id).
    fractions : ndarray of shape (n_windows, n_classes)
        Rows sum to 1 (over the frames with a prediction).
    classes : ndarray of shape (n_classes,)
    xlabel : str, default="frame index"

    Attributes
    ----------
    lines_ : dict of class -> matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspeckle.plot import ClassFractionDisplay
    >>> y = np.array(["no-hit"] * 80 + ["single-hit"] * 20)
    >>> disp = ClassFractionDisplay.from_predictions(y, n_windows=2)
    >>> disp.fractions.tolist()
    [[1.0, 0.0], [0.6, 0.4]]
    """

    def __init__(self, position, fractions, classes, *, xlabel="frame index"):
        self.position = position
        self.fractions = fractions
        self.classes = classes
        self.xlabel = xlabel

    def plot(self, *, ax=None):
        """Draw one line per class.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None

        Returns
        -------
        self : ClassFractionDisplay
        """
        figure, ax = _axes(ax, figsize=(8, 3))
        self.lines_ = {}
        for j, c in enumerate(np.asarray(self.classes).tolist()):
            (self.lines_[c],) = ax.plot(self.position, self.fractions[:, j], label=str(c))
        ax.set(xlabel=self.xlabel, ylabel="fraction of frames", ylim=(0, 1.02))
        ax.legend(fontsize=8, loc="upper right")
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_predictions(
        cls, y_pred, *, position=None, n_windows=50, classes=None, valid=None, xlabel=None, **kw
    ):
        """Class fractions in ``n_windows`` consecutive windows of equal frame count.

        Parameters
        ----------
        y_pred : array-like of shape (n_frames,)
            Predicted class of each frame, in run order.
        position : array-like of shape (n_frames,) or None, default=None
            Frame index (None) or train / pulse id of each frame; each window is drawn at
            its mean position.
        n_windows : int, default=50
            At most this many windows (fewer for short runs: at least one frame each).
        classes : array-like or None, default=None
            Classes (columns); the sorted labels of ``y_pred`` when None.
        valid : array-like of bool of shape (n_frames,) or None, default=None
            Frames with a prediction (the ``valid`` column of a results file); others are
            left out.
        xlabel : str or None, default=None
            "frame index", or "train id" style names for ``position``.
        **kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : ClassFractionDisplay

        Raises
        ------
        ValueError
            If the arrays differ in length or no frame is valid.
        """
        y = np.asarray(y_pred)
        pos = np.arange(len(y), dtype=float) if position is None else np.asarray(position, float)
        keep = np.ones(len(y), bool) if valid is None else np.asarray(valid, bool)
        if not len(pos) == len(keep) == len(y):
            raise ValueError("y_pred, position and valid must have the same length.")
        if not keep.any():
            raise ValueError("No valid frame: nothing to count.")
        y, pos = y[keep], pos[keep]
        classes = np.unique(y) if classes is None else np.asarray(classes)
        windows = np.array_split(np.arange(len(y)), min(n_windows, len(y)))
        fractions = np.array([[np.mean(y[w] == c) for c in classes] for w in windows])
        centres = np.array([pos[w].mean() for w in windows])
        label = xlabel or ("frame index" if position is None else "position")
        return cls(centres, fractions, classes, xlabel=label).plot(**kw)
