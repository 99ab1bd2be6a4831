"""A labelling session: one run's frames, their embeddings, the labels so far and the model.

The session is what the web page talks to (:mod:`skspeckle.labelling.app`); it holds no web
code, so it is usable and testable on its own. It keeps the embeddings of every frame of the
run, refits the few-shot supports on the labelled frames in seconds (:meth:`retrain`),
trains the embedder only on request in a background thread (:meth:`start_embedder`), and
derives the active-learning order (:func:`skspeckle.active_learning.rank_for_labelling`),
the review figures' data and the exports from them.

Embeddings: with a model (a fitted ``Pipeline`` ending in a
:class:`~skspeckle.few_shot.FewShotCentroidClassifier`), its steps but the last; without one,
until an embedder is trained, a principal-component projection of the frames (binned to at
most 64 pixels a side, ``log(1 + counts)``, scaled to unit length), fitted on the run itself:
enough to order frames by diversity and to show a map, not a trained embedding.
"""

import contextlib
import io
import math
import re
import threading
import time
from pathlib import Path

import numpy as np

from skspeckle.active_learning import rank_for_labelling, uncertainty_scores
from skspeckle.labelling.images import clean_frames, frame_png
from skspeckle.labelling.labels import CLASS_LABELS, LabelStore

__all__ = ["LabelSession", "open_run"]

BUNDLED_PR772 = "pr772"
#: Frames the active-learning order ranks by score; the rest follow in run order (ranking
#: every frame of a long run would cost seconds per retrain and nobody labels that many).
RANKED_FRAMES = 500
_EPOCH = re.compile(r"epoch (\d+)/(\d+)")


class _ArrayRun:
    """Frames held in memory (the bundled PR772 frames, or arrays given by the caller)."""

    def __init__(self, key, X, mask):
        self.key, self.X, self.mask = key, np.asarray(X, dtype=np.float32), mask
        self.shape = self.X.shape

    def frames(self, index):
        return self.X[index]

    def chunks(self, size=256):
        for start in range(0, len(self.X), size):
            yield self.X[start : start + size]

    def close(self):
        pass


class _FileRun:
    """Frames of an HDF5 / CXI file, read on demand (:class:`skspeckle.io.FrameReader`)."""

    def __init__(self, path, data_path=None):
        from skspeckle.io.cxi import FrameReader

        self.key = str(Path(path).resolve())
        self._reader = FrameReader(path, data_path)
        self._mutex = threading.Lock()  # one h5py file handle, shared by request threads
        self.mask, self.shape = self._reader.mask, self._reader.shape

    def frames(self, index):
        with self._mutex:
            return self._reader[index]

    def chunks(self):
        with self._mutex:
            for _, frames in self._reader.iter_chunks():
                yield frames

    def close(self):
        self._reader.close()


def open_run(run, data_path=None):
    """The frames of ``run``: a path of an HDF5 / CXI file, or ``"pr772"`` for the bundled
    real PR772 frames (:func:`skspeckle.datasets.load_pr772_frames`, with their mask).

    Raises
    ------
    FileNotFoundError, OSError, KeyError, ValueError
        As :class:`skspeckle.io.FrameReader` for a file.
    """
    if str(run) == BUNDLED_PR772 and not Path(run).exists():
        from skspeckle.datasets._pr772 import load_pr772_frames

        X, mask = load_pr772_frames()
        return _ArrayRun(BUNDLED_PR772, X, mask)
    return _FileRun(run, data_path)


def _pca_front(shape):
    """The stand-in embedding of a run without a model: bin, log, 16 principal components,
    scaled to unit length (squared distances in [0, 4], as between TripletEmbedder outputs,
    so the few-shot temperature and the novelty scores mean the same)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, Normalizer

    from skspeckle.preprocessing import PixelBinning

    factor = max(1, math.ceil(max(shape) / 64))
    return make_pipeline(
        PixelBinning(factor, image_shape=tuple(shape)),
        FunctionTransformer(np.log1p),
        PCA(n_components=16, random_state=0),
        Normalizer(),
    )


class _Progress(io.TextIOBase):
    """Where the embedder's per-epoch lines go while it trains: kept for the progress bar."""

    def __init__(self, job):
        self.job = job

    def write(self, text):
        for line in text.splitlines():
            if line.strip():
                self.job["message"] = line.strip()
                match = _EPOCH.search(line)
                if match:
                    self.job["epoch"], self.job["max_epochs"] = map(int, match.groups())
        return len(text)


class LabelSession:
    """One run, its labels and its model, for the labelling page.

    Parameters
    ----------
    run : str, path-like or run object
        An HDF5 / CXI file, ``"pr772"`` (the bundled frames) or the result of
        :func:`open_run`.
    labels : str or path-like
        The label file (:class:`~skspeckle.labelling.labels.LabelStore`).
    model : estimator or None, default=None
        A fitted ``Pipeline`` whose last step is a
        :class:`~skspeckle.few_shot.FewShotCentroidClassifier` (e.g. loaded with
        :func:`skspeckle.persistence.load_model`); its other steps embed the frames. None:
        the PCA stand-in (module docstring) until an embedder is trained.
    data_path : str or None, default=None
        Frame dataset of the file (see :class:`skspeckle.io.FrameReader`).
    embedder_params : dict or None, default=None
        Parameters of the :class:`~skspeckle.embedding.TripletEmbedder` that
        :meth:`start_embedder` trains (default: 30 epochs, early stopping after 10, CPU or
        CUDA as available, ``random_state=0``).

    Raises
    ------
    TypeError
        If ``model`` is not a fitted Pipeline ending in a FewShotCentroidClassifier.
    skspeckle.labelling.labels.LabelFileLocked
        If another session holds the label file.
    ValueError
        If the model does not accept the run's frames (its error is chained).
    """

    def __init__(self, run, labels, *, model=None, data_path=None, embedder_params=None):
        from skspeckle.few_shot import FewShotCentroidClassifier

        if model is not None and not (
            hasattr(model, "steps")
            and len(model.steps) >= 2
            and isinstance(model.steps[-1][1], FewShotCentroidClassifier)
        ):
            raise TypeError(
                "The model must be a fitted Pipeline whose last step is a "
                f"FewShotCentroidClassifier (its other steps embed the frames); got "
                f"{type(model).__name__}."
            )
        self.run = run if hasattr(run, "frames") else open_run(run, data_path)
        self.n_frames = int(self.run.shape[0])
        self.store = LabelStore(labels, self.run.key, self.n_frames)
        self.embedder_params = dict(embedder_params or {})
        self._mutex = threading.RLock()
        self._png = {}  # frame index -> PNG bytes (the page asks for a frame more than once)
        self.job = {"state": "idle"}
        self.model = model
        self.aggregation = model.steps[-1][1].aggregation if model is not None else "mean"
        self.model_source = "given" if model is not None else None
        if model is not None:
            try:
                self._set_front(model[:-1])
            except ValueError as exc:
                raise ValueError(
                    f"The model does not accept the frames of {self.run.key!r} "
                    f"({self.run.shape[1:]} pixels): {exc}"
                ) from exc
            self.classifier = model.steps[-1][1]
        else:
            front = _pca_front(self.run.shape[1:])
            flat = np.concatenate(
                [clean_frames(c, self.run.mask).reshape(len(c), -1) for c in self.run.chunks()]
            )
            front.set_params(pca__n_components=min(16, len(flat) - 1, flat.shape[1]))
            self.front, self.Z, self._flat = front, front.fit_transform(flat), True
            self.classifier = None
        self._scores()

    # ------------------------------------------------------------------ embeddings & scores
    def _model_input(self, frames):
        """What the embedding sees: non-finite pixels set to 0 (masked) for a model, which
        carries its own detector mask; cleaned, masked and flattened for the PCA stand-in."""
        if self._flat:
            return clean_frames(frames, self.run.mask).reshape(len(frames), -1)
        return self._model_input_raw(frames)

    @staticmethod
    def _model_input_raw(frames):
        return np.where(np.isfinite(frames), frames, 0).astype(np.float32)

    def _set_front(self, front):
        self.front, self._flat = front, False
        self.Z = np.concatenate([front.transform(self._model_input(c)) for c in self.run.chunks()])

    def _scores(self):
        """Predictions, probabilities, uncertainty, novelty and the order, from the classifier."""
        clf = self.classifier
        self.predictions = self.proba = self.uncertainty = self.novelty = None
        if clf is not None:
            self.proba = clf.predict_proba(self.Z)
            self.predictions = clf.classes_[np.argmax(self.proba, axis=1)].astype(str)
            self.uncertainty = uncertainty_scores(self.proba)
            self.novelty = clf.novelty_score(self.Z)
        self.order = self._active_order()
        self._map = None

    def _labelled_classes(self):
        items = sorted((i, y) for i, y in self.store.labels.items() if y in CLASS_LABELS)
        index = np.array([i for i, _ in items], dtype=np.int64)
        return index, np.array([y for _, y in items], dtype=object)

    def _active_order(self):
        labelled = np.array(sorted(self.store.labels), dtype=np.int64)
        index, y = self._labelled_classes()
        n_rank = min(RANKED_FRAMES, self.n_frames - len(labelled))
        if n_rank <= 0:
            return []
        if len(np.unique(y)) >= 2:
            # Frames with a note (unknown, needs-help) are labelled but no support: rank a few
            # more frames and drop them from the order.
            ranked = rank_for_labelling(
                self.Z, index, y.astype(str), n_frames=n_rank + len(labelled) - len(index)
            )
            ranked = ranked[~np.isin(ranked, labelled)][:n_rank]
        else:  # no classifier yet: diversity alone, every labelled frame a centre
            ranked = rank_for_labelling(self.Z, labelled, ["?"] * len(labelled), n_frames=n_rank)
        rest = np.setdiff1d(np.arange(self.n_frames), np.concatenate([labelled, ranked]))
        return [int(i) for i in np.concatenate([ranked, rest])]

    # ------------------------------------------------------------------ labels
    def label(self, index, label, tab="default"):
        """Label a frame (None: remove its label); saved before this returns."""
        with self._mutex:
            return self.store.set(index, label, tab)

    def undo(self, tab="default"):
        """Undo ``tab``'s last label; returns ``(frame index or None, revision)``."""
        with self._mutex:
            return self.store.undo(tab)

    # ------------------------------------------------------------------ retraining
    def retrain(self):
        """Refit the few-shot supports on every labelled frame of a class; returns a summary.

        Raises
        ------
        ValueError
            If fewer than two classes have labelled frames.
        """
        from skspeckle.few_shot import FewShotCentroidClassifier

        started = time.perf_counter()
        with self._mutex:
            index, y = self._labelled_classes()
            if len(np.unique(y)) < 2:
                raise ValueError(
                    "Retraining needs labelled frames of at least two classes "
                    f"({', '.join(CLASS_LABELS)}); label more frames first."
                )
            self.classifier = FewShotCentroidClassifier(k=None, aggregation=self.aggregation).fit(
                self.Z[index], y.astype(str)
            )
            if not self._flat:
                self.model = self._pipeline(self.front, self.classifier)
            self._scores()
            return {
                "n_supports": len(index),
                "classes": self.classifier.classes_.tolist(),
                "seconds": round(time.perf_counter() - started, 3),
            }

    @staticmethod
    def _pipeline(front, classifier):
        from sklearn.pipeline import Pipeline

        return Pipeline([*front.steps, ("fewshotcentroidclassifier", classifier)])

    def start_embedder(self):
        """Train a new embedder on the labelled frames in a background thread.

        The pipeline is ``DetectorMask(mask=<the run's mask>, nonfinite="mask")`` (when the run
        has a mask), ``PixelBinning`` to at most 64 pixels a side (when needed) and a
        :class:`~skspeckle.embedding.TripletEmbedder`; when done, the frames are embedded
        again and the supports refitted. Progress is in :attr:`job`.

        Raises
        ------
        RuntimeError
            If an embedder is being trained already.
        ValueError
            If fewer than two classes have 2 or more labelled frames.
        """
        with self._mutex:
            if self.job.get("state") == "running":
                raise RuntimeError("An embedder is being trained already; wait for it.")
            index, y = self._labelled_classes()
            classes, counts = np.unique(y, return_counts=True)
            if (counts >= 2).sum() < 2:
                raise ValueError(
                    "Training an embedder needs at least 2 labelled frames in each of two "
                    "classes; label more frames first."
                )
            X = self._model_input_raw(self.run.frames(index))
            params = {"max_epochs": 30, "n_iter_no_change": 10, "random_state": 0, "verbose": 1}
            params.update(self.embedder_params)
            self.job = {
                "state": "running",
                "epoch": 0,
                "max_epochs": params["max_epochs"],
                "message": "starting",
                "started": time.time(),
                "n_frames": len(index),
            }
            thread = threading.Thread(
                target=self._train_embedder, args=(X, y.astype(str), params), daemon=True
            )
            thread.start()
            return dict(self.job)

    def _train_embedder(self, X, y, params):
        from sklearn.pipeline import make_pipeline

        from skspeckle.embedding import TripletEmbedder
        from skspeckle.preprocessing import DetectorMask, PixelBinning

        job = self.job
        try:
            steps = []
            if self.run.mask is not None:
                steps.append(DetectorMask(mask=self.run.mask, nonfinite="mask"))
            factor = max(1, math.ceil(max(X.shape[1:]) / 64))
            if factor > 1:
                steps.append(PixelBinning(factor))
            front = make_pipeline(*steps, TripletEmbedder(**params))
            # The training loop prints one line per epoch (verbose=1); read them for progress.
            with contextlib.redirect_stdout(_Progress(job)):
                front.fit(X, y)
            with self._mutex:
                self._set_front(front)
                self.model_source = "trained"
                self.retrain()
            job.update(state="done", message=f"trained {front[-1].n_iter_} epochs")
        except Exception as exc:  # reported on the page; the session keeps its old model
            job.update(state="failed", message=f"{type(exc).__name__}: {exc}")
        job["seconds"] = round(time.time() - job["started"], 1)

    # ------------------------------------------------------------------ views
    def png(self, index):
        """Frame ``index`` as a PNG (cached)."""
        index = self.store.check_index(index)
        if index not in self._png:
            if len(self._png) > 2048:  # a bound on memory for long sessions
                self._png.clear()
            self._png[index] = frame_png(self.run.frames(index), self.run.mask)
        return self._png[index]

    def state(self):
        """What the page shows: labels, predictions, scores, order, counts, model, job."""
        with self._mutex:
            labels = [None] * self.n_frames
            for i, y in self.store.labels.items():
                labels[i] = y
            return {
                "run": self.run.key,
                "n_frames": self.n_frames,
                "frame_shape": list(self.run.shape[1:]),
                "labels_file": str(self.store.path),
                "revision": self.store.revision,
                "labels": labels,
                "counts": self.store.counts(),
                "predictions": None if self.predictions is None else self.predictions.tolist(),
                "confidence": None if self.proba is None else self.proba.max(axis=1).tolist(),
                "uncertainty": None if self.uncertainty is None else self.uncertainty.tolist(),
                "novelty": None if self.novelty is None else self.novelty.tolist(),
                "order": self.order,
                "model": self.model_source,
                "embedding": "model" if not self._flat else "pca of the frames",
                "job": {k: v for k, v in self.job.items() if k != "started"},
            }

    def embedding_map(self):
        """2-D coordinates of every frame: UMAP when ``umap-learn`` is installed, else PCA."""
        with self._mutex:
            if self._map is None:
                try:
                    import umap

                    xy, method = umap.UMAP(random_state=0).fit_transform(self.Z), "umap"
                except ImportError:
                    from sklearn.decomposition import PCA

                    n = min(2, *self.Z.shape)
                    xy, method = PCA(n_components=n).fit_transform(self.Z), "pca"
                    if n < 2:
                        xy = np.column_stack([xy, np.zeros(len(xy))])
                self._map = {"method": method, "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist()}
            return self._map

    def review(self, n_least_sure=24, n_per_class=12):
        """Supports per class, the least sure unlabelled frames and a confusion matrix.

        The confusion matrix compares the labels so far with cross-validated predictions
        (stratified folds over the labelled frames, each fold's supports from the others),
        since every labelled frame is a support and would predict itself; classes with fewer
        than 2 labelled frames are left out of it.
        """
        with self._mutex:
            index, y = self._labelled_classes()
            supports = {c: [int(i) for i in index[y == c][-n_per_class:]] for c in CLASS_LABELS}
            least_sure = []
            if self.uncertainty is not None:
                unlabelled = np.setdiff1d(np.arange(self.n_frames), list(self.store.labels))
                ranked = unlabelled[np.argsort(-self.uncertainty[unlabelled], kind="stable")]
                least_sure = [int(i) for i in ranked[:n_least_sure]]
            return {
                "supports": supports,
                "least_sure": least_sure,
                "confusion": self._confusion(index, y.astype(str)),
                "counts": self.store.counts(),
            }

    def _confusion(self, index, y):
        from sklearn.metrics import confusion_matrix
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        from skspeckle.few_shot import FewShotCentroidClassifier

        classes, counts = np.unique(y, return_counts=True)
        classes = classes[counts >= 2]  # a class needs a frame left out and a support left
        if len(classes) < 2:
            return None
        keep = np.isin(y, classes)
        index, y = index[keep], y[keep]
        n_splits = min(5, int(counts[counts >= 2].min()))
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0)
        predicted = cross_val_predict(
            FewShotCentroidClassifier(k=None, aggregation=self.aggregation), self.Z[index], y, cv=cv
        )
        return {
            "classes": classes.tolist(),
            "matrix": confusion_matrix(y, predicted, labels=classes).tolist(),
            "n_folds": cv.n_splits,
        }

    def save_model(self, path):
        """Save the fitted model (:func:`skspeckle.persistence.save_model`).

        Raises
        ------
        RuntimeError
            If there is no model to save: no ``model`` was given and no embedder trained (the
            PCA stand-in is not a model).
        """
        from skspeckle.persistence import save_model

        with self._mutex:
            if self.model is None:
                raise RuntimeError(
                    "There is no model to export yet: train the embedder (button 'Train "
                    "embedder') or start the session with --model."
                )
            return save_model(self.model, path, overwrite=True)

    def close(self):
        """Release the label file and close the run."""
        self.store.close()
        self.run.close()
