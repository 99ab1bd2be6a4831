"""skspeckle.plot: what each display draws (artists and their data), on the Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sklearn.metrics  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from skspeckle.plot import (  # noqa: E402
    AccuracyCurveDisplay,
    ClassFractionDisplay,
    ConfusionMatrixDisplay,
    EmbeddingMapDisplay,
    FrameGalleryDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_frame_gallery_from_frames_draws_log_counts_per_class():
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(9, 12, 12)).astype(float)
    y = np.array(["a", "b", "c"] * 3)
    mask = np.ones((12, 12), bool)
    mask[:4] = False
    disp = FrameGalleryDisplay.from_frames(X, y, n_per_class=2, classes=["c", "a"], mask=mask)
    assert disp.axes_.shape == (2, 2) and len(disp.images_) == 4
    # Rows in the order asked for, the first frames of each class, on log10(1 + counts).
    assert [disp.axes_[r, 0].get_ylabel() for r in range(2)] == ["c", "a"]
    for image, i in zip(disp.images_, [2, 5, 0, 3]):
        data = image.get_array()
        np.testing.assert_allclose(data[4:], np.log10(1 + X[i])[4:])
        assert data.mask[:4].all() and not data.mask[4:].any()
        assert image.axes.get_title() == f"#{i}"
    assert disp.images_[0].get_clim() == (0, pytest.approx(np.log10(1 + X[[2, 5, 0, 3]]).max()))
    with pytest.raises(ValueError, match=r"\(n_frames, H, W\)"):
        FrameGalleryDisplay.from_frames(X[0], y[:1])


def test_frame_gallery_from_estimator_shows_the_supports(small_fitted_pipeline):
    pipe, X, _ = small_fitted_pipeline
    disp = FrameGalleryDisplay.from_estimator(pipe, X)
    final = pipe[-1]
    assert len(disp.images_) == len(final.support_)
    Z = pipe[:-1].transform(X)
    for image, support, title in zip(disp.images_, final.support_, disp.titles):
        i = int(title[1:])
        np.testing.assert_allclose(Z[i], support, atol=1e-6)
        np.testing.assert_allclose(
            image.get_array(), np.log10(1 + np.clip(X[i], 0, None)), rtol=1e-5
        )
    np.testing.assert_array_equal(disp.labels, final.support_labels_)
    with pytest.raises(ValueError, match="fitted on"):
        FrameGalleryDisplay.from_estimator(pipe, X[::-1][:5] * 2)


def test_embedding_map_points_are_the_pca_coordinates(small_fitted_pipeline):
    pipe, X, y = small_fitted_pipeline
    disp = EmbeddingMapDisplay.from_estimator(pipe, X, y)
    Z = pipe[:-1].transform(X)
    coords = PCA(n_components=2).fit_transform(Z)
    assert sorted(disp.scatters_) == sorted(set(y))
    for label, scatter in disp.scatters_.items():
        np.testing.assert_allclose(scatter.get_offsets(), coords[y == label], atol=1e-6)
    assert disp.ax_.get_xlabel().startswith("PC 1 (")
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == sorted(set(y))
    predicted = EmbeddingMapDisplay.from_estimator(pipe, X)  # coloured by predict
    counts = {k: len(s.get_offsets()) for k, s in predicted.scatters_.items()}
    assert counts == dict(zip(*np.unique(pipe.predict(X), return_counts=True)))
    with pytest.raises(ValueError, match="labels has"):
        EmbeddingMapDisplay.from_embeddings(Z, y[:-1])


def test_accuracy_curve_per_value_and_per_bin():
    rng = np.random.default_rng(2)
    fluence = 10 ** rng.uniform(10, 13, 600)
    y = rng.integers(0, 3, 600)
    # Accuracy grows with fluence: correct with probability log10(fluence) / 13.
    pred = np.where(rng.random(600) < np.log10(fluence) / 13, y, (y + 1) % 3)
    disp = AccuracyCurveDisplay.from_predictions(y, pred, fluence, bins=4, name="few-shot")
    edges = np.quantile(fluence, np.linspace(0, 1, 5))
    which = np.clip(np.searchsorted(edges, fluence, side="right") - 1, 0, 3)
    expected = [np.mean((y == pred)[which == b]) for b in range(4)]
    np.testing.assert_allclose(disp.accuracy, expected)
    np.testing.assert_allclose(disp.line_.get_ydata(), expected)
    assert disp.n_frames.sum() == 600 and np.all(disp.lower <= disp.accuracy)
    assert np.all(disp.accuracy <= disp.upper) and disp.band_ is not None
    assert disp.ax_.get_legend().get_texts()[0].get_text() == "few-shot"
    # A second curve on the same axes (e.g. another labelling strategy).
    labels = np.repeat([10, 50, 200], 4)
    other = AccuracyCurveDisplay.from_predictions(
        np.zeros(12), np.r_[np.ones(4), 0, 0, 1, 1, np.zeros(4)], labels, ax=disp.ax_
    )
    assert other.ax_ is disp.ax_ and len(disp.ax_.lines) == 2
    np.testing.assert_allclose(other.line_.get_xdata(), [10, 50, 200])
    np.testing.assert_allclose(other.accuracy, [0, 0.5, 1])
    with pytest.raises(ValueError, match="same length"):
        AccuracyCurveDisplay.from_predictions(y, pred, fluence[:-1])


def test_class_fractions_over_the_run():
    y = np.array(["no-hit"] * 60 + ["single-hit"] * 30 + ["multi-hit"] * 10)
    valid = np.ones(100, bool)
    valid[:20] = False
    disp = ClassFractionDisplay.from_predictions(
        y, position=1000 + np.arange(100), n_windows=4, valid=valid, xlabel="train id"
    )
    np.testing.assert_allclose(disp.fractions.sum(axis=1), 1)
    np.testing.assert_allclose(disp.fractions[:, list(disp.classes).index("no-hit")], [1, 1, 0, 0])
    np.testing.assert_allclose(disp.lines_["multi-hit"].get_ydata(), [0, 0, 0, 0.5])
    np.testing.assert_allclose(disp.position, 1000 + np.array([29.5, 49.5, 69.5, 89.5]))
    assert disp.ax_.get_xlabel() == "train id"
    with pytest.raises(ValueError, match="No valid frame"):
        ClassFractionDisplay.from_predictions(y, valid=np.zeros(100, bool))


def test_confusion_matrix_is_sklearns(small_fitted_pipeline):
    pipe, X, y = small_fitted_pipeline
    assert ConfusionMatrixDisplay is sklearn.metrics.ConfusionMatrixDisplay
    disp = ConfusionMatrixDisplay.from_estimator(pipe, X, y)
    np.testing.assert_array_equal(
        disp.confusion_matrix, sklearn.metrics.confusion_matrix(y, pipe.predict(X))
    )
