"""Calibrated few-shot probabilities (CalibratedClassifierCV + FrozenEstimator) and operating
points: the threshold for a precision target, the veto in predict_file and on the command
line, recorded in the results file."""

import h5py
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import Pipeline

from skspeckle.calibration import OperatingPoint
from skspeckle.cli import main
from skspeckle.datasets import make_speckle_patterns
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.io.cxi import write_cxi
from skspeckle.persistence import load_model, save_model
from skspeckle.streaming import predict_file

CLASSES = np.array(["multi-hit", "non-sample-hit", "single-hit"])


def _embeddings(n, rng, spread=0.4):
    """Unit vectors of three noisy classes in R^8 (stand-ins for TripletEmbedder output)."""
    y = CLASSES[rng.integers(0, 3, n)]
    Z = rng.normal(size=(n, 8)) * spread + np.eye(8)[np.searchsorted(CLASSES, y)]
    return Z / np.linalg.norm(Z, axis=1, keepdims=True), y


def test_temperature_scaling_improves_brier_on_held_out_frames():
    rng = np.random.default_rng(0)
    (Z_sup, y_sup), (Z_cal, y_cal), (Z_test, y_test) = (_embeddings(n, rng) for n in (60, 300, 600))
    few = FewShotCentroidClassifier(k=5, random_state=0).fit(Z_sup, y_sup)
    calibrated = CalibratedClassifierCV(FrozenEstimator(few), method="temperature")
    calibrated.fit(Z_cal, y_cal)
    before = brier_score_loss(y_test, few.predict_proba(Z_test), labels=few.classes_)
    after = brier_score_loss(y_test, calibrated.predict_proba(Z_test), labels=calibrated.classes_)
    assert after < 0.8 * before
    # One temperature for all classes: the ranking, hence predict, is unchanged.
    np.testing.assert_array_equal(calibrated.predict(Z_test), few.predict(Z_test))
    # The few-shot softmax with the fitted temperature is the calibrated model.
    beta = calibrated.calibrated_classifiers_[0].calibrators[0].beta_
    refit = FewShotCentroidClassifier(k=5, random_state=0, temperature=1 / beta).fit(Z_sup, y_sup)
    np.testing.assert_allclose(refit.predict_proba(Z_test), calibrated.predict_proba(Z_test))


def test_calibrated_pipeline_on_frames_round_trips(
    small_fitted_pipeline, amplitude_cache, tmp_path
):
    pipe, _, _ = small_fitted_pipeline
    X, y, _ = make_speckle_patterns(
        ["1n7g"], n_per_class=10, random_state=5, cache_dir=amplitude_cache
    )
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipe), method="temperature")
    calibrated.fit(X[::2], y[::2])
    held_out = X[1::2], y[1::2]
    before = brier_score_loss(held_out[1], pipe.predict_proba(held_out[0]), labels=pipe.classes_)
    after = brier_score_loss(
        held_out[1], calibrated.predict_proba(held_out[0]), labels=pipe.classes_
    )
    assert after < before
    path = save_model(calibrated, tmp_path / "calibrated.skops")
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict_proba(X), calibrated.predict_proba(X))
    # The streaming form: the last step calibrated, the pipeline's shape kept (embeddings too).
    streaming = Pipeline(
        [
            ("embed", FrozenEstimator(pipe[:-1])),
            ("calibrated", CalibratedClassifierCV(FrozenEstimator(pipe[-1]), method="temperature")),
        ]
    ).fit(X[::2], y[::2])
    np.testing.assert_allclose(streaming.predict_proba(X), calibrated.predict_proba(X), atol=1e-6)
    run = write_cxi(tmp_path / "run.cxi", X)
    predict_file(streaming, run, tmp_path / "out.h5", embeddings=True)
    with h5py.File(tmp_path / "out.h5") as h5:
        stored = h5["skspeckle_results/probabilities"][()]
        assert h5["skspeckle_results/embeddings"].shape[0] == len(X)
    np.testing.assert_allclose(stored, streaming.predict_proba(X), atol=1e-6)


def test_operating_point_is_lowest_threshold_reaching_precision():
    rng = np.random.default_rng(1)
    y = np.where(rng.random(400) < 0.4, "single-hit", "rest")
    score = np.clip(rng.normal(0.3, 0.2, 400) + 0.35 * (y == "single-hit"), 0, 1)
    op = OperatingPoint.from_predictions(y, score, positive_class="single-hit", min_precision=0.9)
    # Brute force over every candidate threshold.
    best = None
    for t in np.unique(score):
        kept = score >= t
        precision = np.mean(y[kept] == "single-hit")
        if precision >= 0.9 and best is None:
            best = t, precision, np.sum(kept & (y == "single-hit")) / np.sum(y == "single-hit")
    assert op.threshold == pytest.approx(best[0])
    assert (op.precision, op.recall) == pytest.approx(best[1:])
    assert op.n_validation == 400 and op.n_positive == int(np.sum(y == "single-hit"))
    accepted = op.accept(np.c_[1 - score, score], classes=["rest", "single-hit"])
    np.testing.assert_array_equal(accepted, score >= op.threshold)
    attrs = op.to_attrs()
    assert attrs["threshold"] == op.threshold and attrs["threshold_min_precision"] == 0.9
    assert attrs["threshold_source"] == "validation frames"


def test_confidence_bound_makes_the_threshold_conservative():
    from scipy.stats import beta

    rng = np.random.default_rng(3)
    y = np.where(rng.random(300) < 0.5, "single-hit", "rest")
    score = np.clip(rng.normal(0.3, 0.15, 300) + 0.4 * (y == "single-hit"), 0, 1)
    plain = OperatingPoint.from_predictions(
        y, score, positive_class="single-hit", min_precision=0.9
    )
    bound = OperatingPoint.from_predictions(
        y, score, positive_class="single-hit", min_precision=0.9, confidence=0.95
    )
    assert bound.threshold > plain.threshold and bound.recall < plain.recall
    assert bound.confidence == 0.95 and bound.to_attrs()["threshold_confidence"] == 0.95
    # Brute force: the lowest threshold whose Clopper-Pearson 95 % lower bound reaches 0.9.
    for t in np.unique(score):
        kept = score >= t
        k, n = np.sum(kept & (y == "single-hit")), np.sum(kept)
        if k and beta.ppf(0.05, k, n - k + 1) >= 0.9:
            break
    assert bound.threshold == pytest.approx(t)
    with pytest.raises(ValueError, match="lower bound of the precision"):
        OperatingPoint.from_predictions(
            y[:20], score[:20], positive_class="single-hit", min_precision=0.99, confidence=0.95
        )


@pytest.mark.parametrize(
    "y, score, kwargs, message",
    [
        (["a", "b"], [0.9, 0.1], {"min_precision": 1.5}, "min_precision must be in"),
        (["a", "b"], [0.9, 0.1], {"min_precision": 0.9, "confidence": 1}, "confidence must"),
        (["a", "b"], [np.nan, 0.1], {"min_precision": 0.9}, "non-finite"),
        (["a", "b"], [0.9], {"min_precision": 0.9}, "same length"),
        (["b", "b"], [0.9, 0.1], {"min_precision": 0.9}, "No validation frame is labelled"),
        (["b", "a"], [0.9, 0.1], {"min_precision": 0.9}, "the best is 0.500"),
    ],
)
def test_operating_point_errors(y, score, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OperatingPoint.from_predictions(y, score, positive_class="a", **kwargs)


def test_operating_point_checks_threshold_and_class():
    with pytest.raises(ValueError, match="probability in"):
        OperatingPoint("a", 1.2)
    with pytest.raises(ValueError, match="not one of the model's classes"):
        OperatingPoint("single", 0.5).accept(np.zeros((1, 2)), ["a", "b"])
    # Integer classes named on the command line (a string) still match.
    assert OperatingPoint("1", 0.5).accept(np.array([[0.2, 0.8]]), [0, 1]).tolist() == [True]


def test_predict_file_records_veto(tmp_path, small_fitted_pipeline):
    pipe, X, y = small_fitted_pipeline
    frames = X.copy()
    frames[3, 0, 0] = np.nan  # skipped: never accepted
    run = write_cxi(tmp_path / "run.cxi", frames)
    proba = pipe.predict_proba(X)
    column = list(pipe.classes_).index("single-hit")
    threshold = float(np.median(proba[:, column]))
    op = OperatingPoint("single-hit", threshold, source="test")
    summary = predict_file(
        pipe, run, tmp_path / "out.h5", chunk_frames=5, nonfinite="skip", operating_point=op
    )
    expected = proba[:, column] >= threshold
    expected[3] = False
    with h5py.File(tmp_path / "out.h5") as h5:
        group = h5["skspeckle_results"]
        np.testing.assert_array_equal(group["accepted"][()], expected)
        assert group.attrs["threshold"] == threshold
        assert group.attrs["threshold_positive_class"] == "single-hit"
        assert group.attrs["threshold_source"] == "test"
        assert group.attrs["accepted_frames"] == expected.sum() == summary["accepted_frames"]
    with pytest.raises(ValueError, match="not one of the model's classes"):
        predict_file(pipe, run, tmp_path / "o2.h5", operating_point=OperatingPoint("x", 0.5))
    assert not (tmp_path / "o2.h5").exists()


def test_cli_min_precision_and_threshold(tmp_path, small_fitted_pipeline, capsys):
    pipe, X, y = small_fitted_pipeline
    model = save_model(pipe, tmp_path / "model.skops")
    run = write_cxi(tmp_path / "run.cxi", X)
    validation = write_cxi(tmp_path / "val.cxi", X, y)
    out = tmp_path / "out.h5"
    base = ["classify", str(run), "--model", str(model), "--out", str(out)]
    # The training frames stand in for validation frames: the target is reachable there.
    expected = OperatingPoint.from_estimator(
        pipe, X, y, positive_class="single-hit", min_precision=0.5
    )
    assert main([*base, "--min-precision", "0.5", "--validation", str(validation)]) == 0
    assert "accepted as single-hit: " in capsys.readouterr().out
    with h5py.File(out) as h5:
        attrs = h5["skspeckle_results"].attrs
        assert attrs["threshold"] == pytest.approx(expected.threshold)
        assert attrs["threshold_min_precision"] == 0.5
        assert attrs["threshold_recall"] == pytest.approx(expected.recall)
        assert str(validation.resolve()) in attrs["threshold_source"]
    bound = OperatingPoint.from_estimator(
        pipe, X, y, positive_class="single-hit", min_precision=0.5, confidence=0.6
    )
    flags = ["--min-precision", "0.5", "--confidence", "0.6", "--validation", str(validation)]
    assert main([*base, "--overwrite", *flags]) == 0
    with h5py.File(out) as h5:
        assert h5["skspeckle_results"].attrs["threshold"] == pytest.approx(bound.threshold)
        assert h5["skspeckle_results"].attrs["threshold_confidence"] == 0.6
    assert main([*base, "--overwrite", "--threshold", "0.4", "--positive-class", "multi-hit"]) == 0
    with h5py.File(out) as h5:
        group = h5["skspeckle_results"]
        assert group.attrs["threshold_source"] == "--threshold"
        column = list(pipe.classes_).index("multi-hit")
        np.testing.assert_array_equal(
            group["accepted"][()], pipe.predict_proba(X)[:, column] >= 0.4
        )
    capsys.readouterr()
    assert main([*base, "--overwrite", "--min-precision", "0.9"]) == 1
    err = capsys.readouterr().err
    assert "--validation VAL.cxi" in err and "Traceback" not in err
    assert main([*base, "--overwrite", "--validation", str(validation)]) == 1
    assert "go with --min-precision" in capsys.readouterr().err
