"""HitFinderCNN: the SFX hit-finding CNN of Ke et al. (2018) / Li (2018)."""

import glob
import os
import pickle

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from skspeckle.baselines import PeakCountClassifier, TotalIntensityClassifier
from skspeckle.baselines.sfx.hit_finder import HitFinderCNN
from skspeckle.baselines.sfx.row_wise import CNN1DClassifier, RowWiseDecomposition
from skspeckle.io.cbf import read_cbf
from skspeckle.simulation.sfx import make_sfx_frames

pytestmark = pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image")


@pytest.fixture(scope="module")
def sfx_task():
    """Hit vs miss on 72 x 72 CSPAD-preset frames (cropped to 64 x 64): 160 train, 160 test."""
    kw = dict(dataset="cxi-cspad", shape=(72, 72), class_weights={"hit": 1, "miss": 1})
    return make_sfx_frames(160, random_state=0, **kw), make_sfx_frames(160, random_state=1, **kw)


@pytest.fixture(scope="module")
def fitted(sfx_task):
    (X, y), _ = sfx_task
    return HitFinderCNN(crop=64, max_epochs=15, random_state=0, device="cpu").fit(X, y)


def test_learns_hits(sfx_task, fitted):
    _, (Xt, yt) = sfx_task
    assert balanced_accuracy_score(yt, fitted.predict(Xt)) > 0.7  # chance is 0.5
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict_proba(Xt), fitted.predict_proba(Xt))


def test_random_state(sfx_task):
    (X, y), _ = sfx_task
    a, b, c = (
        HitFinderCNN(crop=32, max_epochs=1, random_state=s, device="cpu").fit(X, y)
        for s in (1, 1, 2)
    )
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_fine_tunes_frozen_base_across_datasets(sfx_task, fitted):
    """Xie et al. Sec. 3.4.1: reuse the convolutional base trained on one experiment."""
    kw = dict(dataset="mfx-rayonix", shape=(72, 72), class_weights={"hit": 1, "miss": 1})
    X2, y2 = make_sfx_frames(100, random_state=2, **kw)
    Xt2, yt2 = make_sfx_frames(160, random_state=3, **kw)
    tuned = HitFinderCNN(
        crop=64, init_from=fitted, freeze="features", max_epochs=10, random_state=0, device="cpu"
    ).fit(X2, y2)
    for name, p in fitted.module_.network.features.state_dict().items():
        assert torch_equal(p, tuned.module_.network.features.state_dict()[name]), name
    assert balanced_accuracy_score(yt2, tuned.predict(Xt2)) > 0.6


def torch_equal(a, b):
    return bool((a == b).all())


@pytest.mark.parametrize(
    "crop, match",
    [(200, "larger than the frames"), ((64, 300), "larger than the frames"), (0, "positive")],
)
def test_bad_crop(crop, match):
    X, y = make_sfx_frames(8, shape=(128, 128), random_state=0)
    with pytest.raises(ValueError, match=match):
        HitFinderCNN(crop=crop, max_epochs=1).fit(X, y)


def test_wrong_ndim():
    with pytest.raises(ValueError, match="dimension"):
        HitFinderCNN(max_epochs=1).fit(np.zeros((2, 3, 4, 5)), [0, 1])


CBF_FILES = sorted(
    glob.glob(
        os.path.join(
            os.path.dirname(__file__),
            "..",
            "..",
            "..",
            "shared",
            "data",
            "real_frames",
            "sfx_cbf",
            "*.cbf",
        )
    )
)


@pytest.mark.skipif(not CBF_FILES, reason="shared SFX CBF frames not available")
def test_hit_finders_run_on_real_cbf_frames(sfx_task, fitted):
    """Smoke test: every hit finder classifies the five real frames (all hits; no accuracy
    claim: they are in ADU, on other detectors, and the models saw only simulations)."""
    (X, y), _ = sfx_task
    frames = []
    for path in CBF_FILES:
        frame = read_cbf(path)
        h, w = frame.shape
        frames.append(frame[(h - 72) // 2 : (h + 72) // 2, (w - 72) // 2 : (w + 72) // 2])
    R = np.stack(frames)
    assert R.shape == (5, 72, 72)
    models = [
        fitted,
        TotalIntensityClassifier().fit(X, y),
        PeakCountClassifier().fit(X, y),
        RowWiseDecomposition(),
    ]
    rwd_clf = CNN1DClassifier(max_epochs=2, random_state=0, device="cpu").fit(
        models[-1].fit_transform(X), y
    )
    outputs = {type(m).__name__: m.predict(R) for m in models[:-1]}
    outputs["RWD+CNN1D"] = rwd_clf.predict(models[-1].transform(R))
    for name, pred in outputs.items():
        assert pred.shape == (5,) and set(pred) <= {"hit", "miss"}, name
