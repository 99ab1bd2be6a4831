"""The shipped pretrained embedder: provenance, integrity, frozen use, fine-tuning, accuracy."""

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skspeckle import DetectorMask, FewShotCentroidClassifier, TripletEmbedder, pretrained
from skspeckle.datasets import list_structures, make_speckle_patterns
from skspeckle.pretrained import embedder_provenance, load_embedder


def _shipped_weights():
    return load_file(str(pretrained.WEIGHTS))


def _same_weights(network):
    own = network.state_dict()
    shipped = _shipped_weights()
    assert set(own) == set(shipped)
    return all(torch.equal(own[k], shipped[k].to(own[k].dtype)) for k in own)


def test_provenance_is_complete_and_the_held_out_structures_were_not_trained_on():
    p = embedder_provenance()
    for key in ("command", "seed", "skspeckle_version", "date_utc", "wall_seconds", "sha256"):
        assert p[key] not in (None, "")
    held_out, trained = set(p["held_out_structures"]), set(p["structures"])
    assert {s["id"] for s in list_structures()} <= held_out  # the demo's particles
    assert trained and not trained & held_out
    assert p["estimator"]["params"]["normalize"] == "standardize"
    assert pretrained.WEIGHTS.stat().st_size <= 12e6
    assert {v.dtype for v in _shipped_weights().values() if v.is_floating_point()} == {
        torch.float16
    }


def test_a_corrupted_weights_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / pretrained.WEIGHTS.name
    shutil.copy(pretrained.WEIGHTS, bad)
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "WEIGHTS", bad)
    embedder_provenance.cache_clear()
    try:
        with pytest.raises(ValueError, match="SHA-256"):
            load_embedder()
    finally:
        embedder_provenance.cache_clear()


@pytest.fixture(scope="module")
def held_out_patterns(amplitude_cache):
    """Single and multi hits of a held-out bundled particle at the baseline fluence."""
    return make_speckle_patterns(
        ["1bxn"],
        n_per_class=45,
        classes=("single-hit", "multi-hit"),
        cache_dir=amplitude_cache,
        random_state=11,
    )


def test_fitting_a_pipeline_trains_nothing_and_clone_keeps_it(held_out_patterns):
    X, y, _ = held_out_patterns
    support = np.r_[0:5, 45:50]
    pipe = make_pipeline(
        DetectorMask(0.25), load_embedder(device="cpu"), FewShotCentroidClassifier(k=5)
    )
    for p in (pipe, clone(pipe)):
        p.fit(X[support], y[support])
        emb = p.named_steps["tripletembedder"]
        assert emb.n_iter_ == 0 and _same_weights(emb.module_.network)
        assert list(emb.classes_) == ["multi-hit", "single-hit"]
        assert p.predict(X[50:60]).shape == (10,)


def test_the_embedder_is_fitted_and_refuses_other_frame_shapes():
    emb = load_embedder(device="cpu")
    z = emb.transform(np.random.default_rng(0).poisson(1.0, (3, 48, 48)).astype(np.float32))
    assert z.shape == (3, 128) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    frames = np.random.default_rng(0).poisson(1.0, (4, 32, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="max_epochs=0"):
        clone(emb).fit(frames, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="normalize"):
        load_embedder(normalize="log1p")
    # The trained network by its name is the same network; another one is refused.
    assert load_embedder(network="speckle_nn", device="cpu").network == "speckle_nn"
    with pytest.raises(ValueError, match="network"):
        load_embedder(network="speckle_nn_small")


def test_fine_tuning_starts_from_the_pretrained_weights(held_out_patterns):
    X, y, _ = held_out_patterns
    kw = dict(max_epochs=1, batch_size=16, learning_rate=1e-6, device="cpu", random_state=0)
    tuned = load_embedder(**kw).fit(X[::3], y[::3])
    # Another seed than the training run's (0), whose random start the weights came from.
    scratch = TripletEmbedder(normalize="standardize", **{**kw, "random_state": 1})
    scratch.fit(X[::3], y[::3])
    shipped = _shipped_weights()["features.0.weight"].float()

    def distance(est):
        return float((est.module_.network.state_dict()["features.0.weight"] - shipped).norm())

    assert tuned.n_iter_ == 1 and not _same_weights(tuned.module_.network)
    # A tiny step from the shipped weights; a random start is nowhere near them.
    assert distance(tuned) < 0.01 * float(shipped.norm()) < 0.02 * distance(scratch)


def test_five_shot_accuracy_on_a_held_out_particle_beats_random_weights(held_out_patterns):
    X, y, _ = held_out_patterns
    support = np.r_[0:5, 45:50]
    query = np.setdiff1d(np.arange(len(y)), support)

    def accuracy(embedder):
        pipe = make_pipeline(embedder, FewShotCentroidClassifier(k=5))
        return pipe.fit(X[support], y[support]).score(X[query], y[query])

    random_weights = TripletEmbedder(
        normalize="standardize",
        max_epochs=0,
        validation_fraction=0.0,
        device="cpu",
        random_state=0,
    )
    pre, rnd = accuracy(load_embedder(device="cpu")), accuracy(random_weights)
    # Measured 0.95 against 0.54 for random weights (the shipped weights, these frames).
    assert pre >= 0.85 and pre >= rnd + 0.2, (pre, rnd)


def test_q_scale_for_maps_the_training_median_to_one_and_scales_larger_particles():
    sizes = embedder_provenance()["data"]["radius_of_gyration_angstrom"]
    assert sizes["n_structures"] == len(embedder_provenance()["structures"])
    assert sizes["min"] <= sizes["p10"] <= sizes["median"] <= sizes["p90"] <= sizes["max"]
    median = sizes["median"]
    assert pretrained.q_scale_for(median) == pytest.approx(1.0)
    assert pretrained.q_scale_for(2.5 * median) == pytest.approx(2.5)
    assert pretrained.q_scale_for(0.5 * median) == 1.0  # never zooms out
    for bad in (0.0, -3.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite number of Å"):
            pretrained.q_scale_for(bad)


def test_frames_of_a_large_particle_read_at_its_q_scale_classify_far_better(amplitude_cache):
    # 4v4r (the 30S subunit, Rg 66 Å, held out) on a detector twice as fine in q as the
    # pretrained grid's unbinned pixels; GridSearchCV over q_scale picks the scaled reading
    # from the labelled frames alone.
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from skspeckle import QGridResampler
    from skspeckle.datasets import load_structure
    from skspeckle.detector import Detector

    fine = Detector((192, 192), pixel_size=3e-4, distance=0.1)
    X, y, _ = make_speckle_patterns(
        ["4v4r"],
        n_per_class=24,
        classes=("single-hit", "multi-hit"),
        detector=fine,
        binning=1,
        cache_dir=amplitude_cache,
        random_state=5,
    )
    scale = pretrained.q_scale_for(load_structure("4v4r").radius_of_gyration)
    assert 2.0 < scale < 2.4
    support = np.r_[0:5, 24:29]
    query = np.setdiff1d(np.arange(len(y)), support)

    def pipe(q_scale):
        return make_pipeline(
            QGridResampler(fine, q_scale=q_scale, interpolation="area"),
            DetectorMask(nonfinite="mask"),
            load_embedder(device="cpu"),
            FewShotCentroidClassifier(k=5),
        )

    plain, scaled = (
        pipe(s).fit(X[support], y[support]).score(X[query], y[query]) for s in (1.0, scale)
    )
    # These frames: 0.66 unscaled, 1.00 at q_scale_for(Rg) = 2.20.
    assert scaled >= 0.85 and scaled >= plain + 0.15, (plain, scaled)
    search = GridSearchCV(
        pipe(1.0).set_params(fewshotcentroidclassifier__k=None),
        {"qgridresampler__q_scale": [1.0, scale]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X[np.r_[0:9, 24:33]], y[np.r_[0:9, 24:33]])
    assert search.best_params_["qgridresampler__q_scale"] == scale
