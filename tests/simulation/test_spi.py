import numpy as np
import pytest

from skspeckle.datasets import CLASSES, make_speckle_patterns
from skspeckle.detector import Detector
from skspeckle.simulation.spi import CLASSICAL_ELECTRON_RADIUS

SMALL = Detector((32, 32), 6e-4, 0.1)
ODD = Detector((33, 33), 6e-4, 0.1)  # pixel (16, 16) sits on the beam: q = 0 exactly


def _quiet(**kw):
    """Noise-free keyword set: no shot noise, jitter or background."""
    return dict(shot_noise=False, fluence_jitter=0.0, background=0.0, **kw)


def test_default_shapes_dtypes_labels_groups(small_structure, cache_dir):
    X, y, groups, n = make_speckle_patterns(
        [small_structure, "1igy"],
        n_per_class=3,
        classes=CLASSES,
        cache_dir=cache_dir,
        random_state=0,
        return_n_particles=True,
    )
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
    kw = dict(
        structures=["1n7g", "1igy"],
        n_per_class=2,
        detector=SMALL,
        cache_dir=cache_dir,
        classes=("single-hit", "multi-hit", "non-sample-hit"),
    )
    a = make_speckle_patterns(random_state=3, **kw)[0]
    b = make_speckle_patterns(random_state=3, n_jobs=2, **kw)[0]
    c = make_speckle_patterns(random_state=4, **kw)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_threads_within_one_structure_give_the_same_patterns(cache_dir):
    # 70 patterns per class: two blocks of the 64-pattern random streams per class, so the
    # blocks really run on two threads, in whatever order they finish.
    kw = dict(
        structures="1n7g",
        n_per_class=70,
        detector=SMALL,
        cache_dir=cache_dir,
        classes=("single-hit", "multi-hit", "non-sample-hit"),
        return_n_particles=True,
        random_state=5,
    )
    X1, y1, _, n1 = make_speckle_patterns(n_jobs=1, **kw)
    X2, y2, _, n2 = make_speckle_patterns(n_jobs=2, **kw)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_array_equal(y1, y2)
    # The blocks draw independent streams: the second block is not a copy of the first.
    assert not np.array_equal(X1[:6], X1[64:70])
    assert set(n1[70:140]) == {2, 3, 4}


def test_absolute_scale_at_q_zero_and_multi_hit_n_squared(small_structure, cache_dir):
    X, y, _, n = make_speckle_patterns(
        small_structure,
        n_per_class=6,
        classes=("single-hit", "multi-hit"),
        detector=ODD,
        binning=1,
        cache_dir=cache_dir,
        random_state=1,
        return_n_particles=True,
        **_quiet(),
    )
    centre = X[:, 16, 16].astype(np.float64)
    # I(0) = Phi r_e^2 dOmega P Z^2 with Phi = N / (pi r^2), dOmega = (p / L)^2, P = 1.
    fluence = 1e12 / (np.pi * 0.5e-6**2)
    i0 = fluence * CLASSICAL_ELECTRON_RADIUS**2 * (6e-4 / 0.1) ** 2 * small_structure.n_electrons**2
    # q = 0 is a node of the amplitude grid, where the deapodised trilinear interpolation
    # overshoots by its kernel correction (1.2 % for 1n7g; skspeckle.simulation.amplitude).
    np.testing.assert_allclose(centre[y == "single-hit"], i0, rtol=1.5e-2)
    # A coherent sum of n equal amplitudes at q = 0 is n times one of them.
    np.testing.assert_allclose(centre / centre[0], n**2, rtol=1e-4)
    assert len(set(n[y == "multi-hit"])) > 1


def test_total_photons_scale_linearly_with_pulse_energy(cache_dir):
    kw = dict(
        structures="1n7g",
        n_per_class=2,
        detector=SMALL,
        cache_dir=cache_dir,
        random_state=0,
        shot_noise=False,
        background=0.0,
        classes=("single-hit", "multi-hit", "non-sample-hit"),
    )
    one = make_speckle_patterns(n_photons=1e12, **kw)[0].sum(axis=(1, 2))
    three = make_speckle_patterns(n_photons=3e12, **kw)[0].sum(axis=(1, 2))
    np.testing.assert_allclose(three / one, 3.0, rtol=1e-5)
    # With shot noise the mean follows, within Poisson error.
    kw.update(shot_noise=True, fluence_jitter=0.0, classes=("single-hit",), n_per_class=20)
    noisy = make_speckle_patterns(n_photons=3e12, **kw)[0].sum(axis=(1, 2))
    exact = make_speckle_patterns(n_photons=3e12, **{**kw, "shot_noise": False})[0].sum(axis=(1, 2))
    assert abs(noisy.sum() - exact.sum()) < 5 * np.sqrt(exact.sum())


def test_no_hit_is_background_only_and_jitter_has_mean_one(cache_dir):
    kw = dict(
        structures="1n7g",
        classes=("no-hit",),
        detector=ODD,
        binning=1,
        background=0.2,
        cache_dir=cache_dir,
        shot_noise=False,
    )
    X = make_speckle_patterns(n_per_class=2, fluence_jitter=0.0, random_state=0, **kw)[0]
    relative = ODD.solid_angle() * ODD.polarization() / (6e-4 / 0.1) ** 2
    np.testing.assert_allclose(X[0], 0.2 * relative, rtol=1e-6)
    jittered = (
        make_speckle_patterns(n_per_class=400, fluence_jitter=0.5, random_state=0, **kw)[0][
            :, 16, 16
        ]
        / 0.2
    )
    assert jittered.mean() == pytest.approx(1.0, abs=0.08)
    assert np.std(np.log(jittered)) == pytest.approx(0.5, abs=0.05)
    noisy = make_speckle_patterns(
        n_per_class=2,
        fluence_jitter=0.0,
        random_state=0,
        read_noise=1.0,
        **{**kw, "background": 0.0},
    )[0]
    assert 0.8 < noisy.std() < 1.2


def test_non_sample_hits_are_not_the_particle(cache_dir):
    X, y, _ = make_speckle_patterns(
        "1n7g",
        n_per_class=6,
        detector=SMALL,
        binning=1,
        classes=("single-hit", "non-sample-hit"),
        cache_dir=cache_dir,
        random_state=2,
        **_quiet(),
    )
    # Droplets and salt grains (>= 5 nm, dense) outshine a 1e4-atom protein at low q.
    assert (
        X[y == "non-sample-hit"].sum(axis=(1, 2)).min()
        > X[y == "single-hit"].sum(axis=(1, 2)).max()
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
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
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs, match):
    kwargs.setdefault("structures", "1n7g")
    with pytest.raises(ValueError, match=match):
        make_speckle_patterns(n_per_class=kwargs.pop("n_per_class", 1), cache_dir=False, **kwargs)


def test_unknown_structure_is_a_file_not_found():
    with pytest.raises(FileNotFoundError, match="bundled"):
        make_speckle_patterns(["no_such_protein.pdb"], n_per_class=1, cache_dir=False)


def test_adu_gain_multiplies_and_read_noise_is_in_output_units(cache_dir):
    kw = dict(
        structures="1n7g",
        n_per_class=3,
        classes=("single-hit", "no-hit"),
        detector=SMALL,
        cache_dir=cache_dir,
        random_state=5,
    )
    photons = make_speckle_patterns(**kw)[0]
    adu = make_speckle_patterns(adu_per_photon=7.6, **kw)[0]
    np.testing.assert_allclose(adu, 7.6 * photons, rtol=1e-6)  # same Poisson draws
    assert np.allclose(photons, np.round(photons))
    # Read noise is added after the gain, in ADU: its spread does not scale with the gain.
    dark = dict(kw, classes=("no-hit",), n_per_class=2, background=0.0, read_noise=1.4, binning=1)
    for gain in (None, 7.6, 50.0):
        X = make_speckle_patterns(adu_per_photon=gain, **dark)[0]
        assert X.std() == pytest.approx(1.4, rel=0.05) and X.min() < 0
    with pytest.raises(ValueError, match="adu_per_photon"):
        make_speckle_patterns(adu_per_photon=0.0, **kw)


def test_any_geometry_non_square_with_an_off_centre_beam(small_structure, cache_dir):
    det = Detector(
        (21, 34), 6e-4, 0.1, beam_center=(5, 27), mask=np.arange(21 * 34).reshape(21, 34) % 7 != 0
    )
    X, _, _ = make_speckle_patterns(
        small_structure,
        n_per_class=2,
        detector=det,
        binning=1,
        classes=("single-hit",),
        cache_dir=cache_dir,
        random_state=0,
        **_quiet(),
    )
    assert X.shape == (2, 21, 34) and (X[:, ~det.mask] == 0).all()
    # The beam hits pixel (5, 27): q = 0 there, so every orientation gives I(0) and it is
    # the brightest pixel.
    fluence = 1e12 / (np.pi * 0.5e-6**2)
    i0 = fluence * CLASSICAL_ELECTRON_RADIUS**2 * (6e-4 / 0.1) ** 2 * small_structure.n_electrons**2
    np.testing.assert_allclose(X[:, 5, 27], i0, rtol=1.5e-2)  # a grid node, as above
    assert (X.reshape(2, -1).argmax(axis=1) == 5 * 34 + 27).all()


def test_pnccd_frames_in_adu_look_like_the_real_ones(cache_dir):
    from skspeckle.datasets._pr772 import PR772_ADU_PER_PHOTON, PR772_READ_NOISE_ADU

    det = Detector.pnccd_back(distance=0.08)  # speckle of 1n7g ~ that of PR772 at 0.586 m
    # 100x the default pulse (SpeckleNN's high-fluence condition): ~1e5 photons, as real hits.
    X, _, _ = make_speckle_patterns(
        "1n7g",
        n_per_class=1,
        detector=det,
        binning=1,
        photon_energy_kev=1.6,
        classes=("single-hit", "no-hit"),
        n_photons=1e14,
        adu_per_photon=PR772_ADU_PER_PHOTON,
        read_noise=PR772_READ_NOISE_ADU,
        cache_dir=cache_dir,
        random_state=0,
    )
    assert X.shape == (2, 260, 257) and X.dtype == np.float32
    assert (X[:, ~det.mask] == 0).all() and X.min() < 0
    assert X[0].sum() > 10 * abs(X[1].sum())  # the hit stands out of the dark frame


def _anisotropy(image, center):
    """Ratio of the principal second moments of the intensity about the beam centre."""
    r, c = np.indices(image.shape)
    d = np.stack([r - center[0], c - center[1]]).reshape(2, -1)
    w = image.ravel() / image.sum()
    moments = np.linalg.eigvalsh((d * w) @ d.T)
    return moments[1] / moments[0]


def test_non_sample_hits_come_from_three_sources_including_streaks(cache_dir):
    X, _, _ = make_speckle_patterns(
        "1n7g",
        n_per_class=12,
        detector=SMALL,
        binning=1,
        classes=("non-sample-hit",),
        cache_dir=cache_dir,
        random_state=0,
        **_quiet(),
    )
    ratios = np.array([_anisotropy(x, SMALL.beam_center) for x in X])
    assert (ratios > 20).any()  # a streak: intensity along one line through the centre
    assert (ratios < 2).any()  # a droplet: rings


def _atom_sum(structure, q, rotation, shift):
    """Direct Debye-style sum F(q) = sum_j f_j(|q|) exp(-B_j |q|^2 / 4) exp(-2 pi i q . r_j)
    over the atoms of one particle moved to r_j = R r + t, IT92 form factors from gemmi."""
    import gemmi

    stol2 = np.einsum("pi,pi->p", q, q) / 4  # (sin(theta) / lambda)^2
    pos = structure.positions @ rotation.T + shift
    f = np.zeros(len(q), dtype=complex)
    for z in np.unique(structure.atomic_numbers):
        sel = structure.atomic_numbers == z
        it92 = gemmi.Element(int(z)).it92
        form = np.array([it92.calculate_sf(float(s)) for s in stol2])
        damp = np.exp(-structure.b_factors[sel][:, None] * stol2[None])
        f += form * (damp * np.exp(-2j * np.pi * pos[sel] @ q.T)).sum(axis=0)
    return f


@pytest.mark.parametrize("b_iso", [0.0, 30.0])
def test_noise_free_patterns_match_a_direct_atom_sum_in_the_returned_poses(cache_dir, b_iso):
    # Full 172 x 172 detector (|q| up to 0.056 Å^-1 at its corner), 300 random pixels, single
    # and multi hits in the orientations and positions the simulator returns: the radial
    # profile within 1 % in every q shell. gemmi.Atom()'s default B = 20 Å^2 (the old bug)
    # dims the outer shell by 3.5 %; the trilinear interpolation without the kernel
    # correction by 1.4 % (both measured).
    from scipy.spatial.transform import Rotation

    from skspeckle.datasets import load_structure
    from skspeckle.simulation import Structure

    s = load_structure("1n7g")
    s = Structure(s.id, s.positions, s.atomic_numbers, b_factors=np.full(s.n_atoms, b_iso))
    det = Detector.speckle_nn()
    X, y, _, n, quats, shifts = make_speckle_patterns(
        s,
        n_per_class=2,
        classes=("single-hit", "multi-hit"),
        detector=det,
        binning=1,
        cache_dir=cache_dir,
        random_state=4,
        return_n_particles=True,
        return_orientations=True,
        **_quiet(),
    )
    assert quats.shape == (4, 4, 4) and shifts.shape == (4, 4, 3)
    np.testing.assert_array_equal(np.isnan(quats[..., 0]), np.arange(4) >= n[:, None])
    np.testing.assert_array_equal(shifts[y == "single-hit", 0], 0.0)
    rows, cols = np.nonzero(det.mask)
    pick = np.random.default_rng(0).choice(len(rows), 300, replace=False)
    rows, cols = rows[pick], cols[pick]
    q = det.q_vectors(1.66)[rows, cols]
    scale = (1e12 / (np.pi * 0.5e-6**2) * CLASSICAL_ELECTRON_RADIUS**2) * (
        det.solid_angle() * det.polarization("horizontal")
    )[rows, cols]
    shell = np.digitize(np.linalg.norm(q, axis=1), np.linspace(0, 0.057, 7)[1:-1])
    for i in range(len(X)):
        f = sum(
            _atom_sum(s, q, Rotation.from_quat(quats[i, j]).as_matrix(), shifts[i, j])
            for j in range(n[i])
        )
        expected = scale * np.abs(f) ** 2
        ratio = np.bincount(shell, X[i, rows, cols]) / np.bincount(shell, expected)
        assert np.abs(ratio - 1).max() < 0.01, ratio


def test_orientations_do_not_change_the_patterns(small_structure, cache_dir):
    kw = dict(n_per_class=3, classes=CLASSES, cache_dir=cache_dir, random_state=5)
    X, y, g = make_speckle_patterns(small_structure, **kw)
    X2, y2, g2, quats, shifts = make_speckle_patterns(
        small_structure, return_orientations=True, **kw
    )
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    particle = np.isin(y, ["single-hit", "multi-hit"])
    assert np.isnan(quats[~particle]).all() and np.isnan(shifts[~particle]).all()
    # Unit quaternions, scalar last; the aggregate's particles do not overlap.
    np.testing.assert_allclose(np.linalg.norm(quats[particle, 0], axis=1), 1.0)
    multi = shifts[y == "multi-hit"]
    d = np.linalg.norm(multi[:, 0] - multi[:, 1], axis=1)
    assert (d >= 2 * np.sqrt(5 / 3) * small_structure.radius_of_gyration - 1e-9).all()
