"""RowWiseDecomposition and CNN1DClassifier."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline

from skspeckle.baselines.sfx.row_wise import CNN1DClassifier, RowWiseDecomposition
from skspeckle.simulation.sfx import make_sfx_frames

pytestmark = pytest.mark.filterwarnings("ignore:X is 2-D with .* not a square image")


def test_rwd_exact_values():
    X = np.array(
        [[[1, 5, 2, 0], [7, 7, 7, 7], [-3, 4, 0, 1]], [[0, 0, 0, 9], [2, 1, 0, 3], [5, 5, 6, 5]]],
        dtype=np.float32,
    )
    out = RowWiseDecomposition().fit(X).transform(X)
    np.testing.assert_array_equal(out, [[5, 0, 7], [9, 3, 1]])
    # Flattened input with its image shape gives the same profiles.
    flat = RowWiseDecomposition(image_shape=(3, 4)).fit_transform(X.reshape(2, -1))
    np.testing.assert_array_equal(flat, out)


def test_rwd_rejects_other_frames():
    rwd = RowWiseDecomposition().fit(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="expecting 4 features"):
        rwd.transform(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="dimension"):
        rwd.transform(np.zeros(4))


@pytest.fixture(scope="module")
def sfx_task():
    """Hit vs miss on the CSPAD preset: 160 training and 160 test frames."""
    kw = dict(dataset="cxi-cspad", class_weights={"hit": 1, "miss": 1})
    return make_sfx_frames(160, random_state=0, **kw), make_sfx_frames(160, random_state=1, **kw)


def test_pipeline_learns_hits(sfx_task):
    (X, y), (Xt, yt) = sfx_task
    pipe = make_pipeline(
        RowWiseDecomposition(), CNN1DClassifier(max_epochs=25, random_state=0, device="cpu")
    )
    score = balanced_accuracy_score(yt, pipe.fit(X, y).predict(Xt))
    assert score > 0.75  # chance is 0.5
    clone = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(clone.predict_proba(Xt), pipe.predict_proba(Xt))


def test_cnn1d_random_state(sfx_task):
    (X, y), _ = sfx_task
    P = RowWiseDecomposition().fit_transform(X)
    a = CNN1DClassifier(max_epochs=2, random_state=5, device="cpu").fit(P, y)
    b = CNN1DClassifier(max_epochs=2, random_state=5, device="cpu").fit(P, y)
    c = CNN1DClassifier(max_epochs=2, random_state=6, device="cpu").fit(P, y)
    np.testing.assert_array_equal(a.predict_proba(P), b.predict_proba(P))
    assert not np.array_equal(a.predict_proba(P), c.predict_proba(P))


def test_cnn1d_rejects_frames():
    X = np.zeros((4, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="RowWiseDecomposition"):
        CNN1DClassifier(max_epochs=1).fit(X, [0, 1, 0, 1])
