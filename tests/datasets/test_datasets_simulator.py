import numpy as np
import pytest

from skspeckle.datasets import CLASSES, Detector, make_speckle_patterns
from skspeckle.datasets.simulator import CLASSICAL_ELECTRON_RADIUS

SMALL = Detector((32, 32), 6e-4, 0.1)
ODD = Detector((33, 33), 6e-4, 0.1)  # pixel (16, 16) sits on the beam: q = 0 exactly


def _quiet(**kw):
    """Noise-free keyword set: no shot noise, jitter or background."""
    return dict(shot_noise=False, fluence_jitter=0.0, background=0.0, **kw)


def test_default_shapes_dtypes_labels_groups(small_structure, cache_dir):
    X, y, groups, n = make_speckle_patterns(
        [small_structure, "1igy"], n_per_class=3, classes=CLASSES, cache_dir=cache_dir,
        random_state=0, return_n_particles=True)
    assert X.shape == (24, 48, 48) and X.dtype == np.float32
    assert list(y[:12]) == [c for c in CLASSES for _ in range(3)]
    assert list(groups) == ["1n7g"] * 12 + ["1igy"] * 12
    assert (X >= 0).all() and np.allclose(X, np.round(X))  # photon counts
    assert set(n[y == "single-hit"]) == {1}
    assert set(n[y == "multi-hit"]) <= {2, 3, 4}
    assert set(n[(y == "non-sample-hit") | (y == "no-hit")]) == {0}
    # 2 x 2 binned pixels lying entirely in the beam stop or gap record nothing.
    dead = ~Detector.speckle_nn().crop(96).mask.reshape(48, 2, 48, 2).any(axis=(1, 3))
    assert dead.any() and (X[:, dead] == 0).all()


def test_same_seed_same_patterns_and_n_jobs_does_not_matter(cache_dir):
    kw = dict(structures=["1n7g", "1igy"], n_per_class=2, detector=SMALL, cache_dir=cache_dir,
              classes=("single-hit", "multi-hit", "non-sample-hit"))
    a = make_speckle_patterns(random_state=3, **kw)[0]
    b = make_speckle_patterns(random_state=3, n_jobs=2, **kw)[0]
    c = make_speckle_patterns(random_state=4, **kw)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_absolute_scale_at_q_zero_and_multi_hit_n_squared(small_structure, cache_dir):
    X, y, _, n = make_speckle_patterns(
        small_structure, n_per_class=6, classes=("single-hit", "multi-hit"), detector=ODD,
        binning=1, cache_dir=cache_dir, random_state=1, return_n_particles=True, **_quiet())
    centre = X[:, 16, 16].astype(np.float64)
    # I(0) = Phi r_e^2 dOmega P Z^2 with Phi = N / (pi r^2), dOmega = (p / L)^2, P = 1.
    fluence = 1e12 / (np.pi * 0.5e-6 ** 2)
    i0 = fluence * CLASSICAL_ELECTRON_RADIUS ** 2 * (6e-4 / 0.1) ** 2 * \
        small_structure.n_electrons ** 2
    np.testing.assert_allclose(centre[y == "single-hit"], i0, rtol=3e-3)
    # A coherent sum of n equal amplitudes at q = 0 is n times one of them.
    np.testing.assert_allclose(centre / centre[0], n ** 2, rtol=1e-4)
    assert len(set(n[y == "multi-hit"])) > 1


def test_total_photons_scale_linearly_with_pulse_energy(cache_dir):
    kw = dict(structures="1n7g", n_per_class=2, detector=SMALL, cache_dir=cache_dir,
              random_state=0, shot_noise=False, background=0.0,
              classes=("single-hit", "multi-hit", "non-sample-hit"))
    one = make_speckle_patterns(n_photons=1e12, **kw)[0].sum(axis=(1, 2))
    three = make_speckle_patterns(n_photons=3e12, **kw)[0].sum(axis=(1, 2))
    np.testing.assert_allclose(three / one, 3.0, rtol=1e-5)
    # With shot noise the mean follows, within Poisson error.
    kw.update(shot_noise=True, fluence_jitter=0.0, classes=("single-hit",), n_per_class=20)
    noisy = make_speckle_patterns(n_photons=3e12, **kw)[0].sum(axis=(1, 2))
    exact = make_speckle_patterns(n_photons=3e12, **{**kw, "shot_noise": False})[0].sum(axis=(1, 2))
    assert abs(noisy.sum() - exact.sum()) < 5 * np.sqrt(exact.sum())


def test_no_hit_is_background_only_and_jitter_has_mean_one(cache_dir):
    kw = dict(structures="1n7g", classes=("no-hit",), detector=ODD, binning=1, background=0.2,
              cache_dir=cache_dir, shot_noise=False)
    X = make_speckle_patterns(n_per_class=2, fluence_jitter=0.0, random_state=0, **kw)[0]
    relative = ODD.solid_angle() * ODD.polarization() / (6e-4 / 0.1) ** 2
    np.testing.assert_allclose(X[0], 0.2 * relative, rtol=1e-6)
    jittered = make_speckle_patterns(n_per_class=400, fluence_jitter=0.5, random_state=0,
                                     **kw)[0][:, 16, 16] / 0.2
    assert jittered.mean() == pytest.approx(1.0, abs=0.08)
    assert np.std(np.log(jittered)) == pytest.approx(0.5, abs=0.05)
    noisy = make_speckle_patterns(n_per_class=2, fluence_jitter=0.0, random_state=0,
                                  read_noise=1.0, **{**kw, "background": 0.0})[0]
    assert 0.8 < noisy.std() < 1.2


def test_non_sample_hits_are_not_the_particle(cache_dir):
    X, y, _ = make_speckle_patterns("1n7g", n_per_class=6, detector=SMALL, binning=1,
                                    classes=("single-hit", "non-sample-hit"),
                                    cache_dir=cache_dir, random_state=2, **_quiet())
    # Droplets and salt grains (>= 5 nm, dense) outshine a 1e4-atom protein at low q.
    assert X[y == "non-sample-hit"].sum(axis=(1, 2)).min() > X[y == "single-hit"].sum(
        axis=(1, 2)).max()


@pytest.mark.parametrize("kwargs, match", [
    (dict(classes=("single-hit", "double-hit")), "double-hit"),
    (dict(classes=()), "classes"),
    (dict(photon_energy_kev=0.0), "photon_energy_kev"),
    (dict(photon_energy_kev=float("nan")), "photon_energy_kev"),
    (dict(n_per_class=0), "n_per_class"),
    (dict(binning=5), "binning"),
    (dict(binning=1.5), "binning"),
    (dict(n_photons=-1), "n_photons"),
    (dict(beam_radius=0), "beam_radius"),
    (dict(fluence_jitter=-0.1), "fluence_jitter"),
    (dict(read_noise=-1), "read_noise"),
    (dict(detector="speckle_nn"), "Detector"),
    (dict(structures=[]), "structures"),
])
def test_bad_arguments_say_what_to_fix(kwargs, match):
    kwargs.setdefault("structures", "1n7g")
    with pytest.raises(ValueError, match=match):
        make_speckle_patterns(n_per_class=kwargs.pop("n_per_class", 1), cache_dir=False,
                              **kwargs)


def test_unknown_structure_is_a_file_not_found():
    with pytest.raises(FileNotFoundError, match="bundled"):
        make_speckle_patterns(["no_such_protein.pdb"], n_per_class=1, cache_dir=False)
