"""Simulated SPI diffraction patterns of the four hit classes, in photons per pixel.

Each pattern is the expected photon count per pixel,

    I = Phi r_e^2 dOmega P |F(q)|^2        (Als-Nielsen & McMorrow, Elements of Modern X-ray
                                           Physics, 2nd ed., Eqs. 1.8-1.9 and Sec. 4.1)

with Phi the fluence (photons/m^2) of a flat-top beam of ``n_photons`` over a disc of
``beam_radius``, r_e the classical electron radius, dOmega the pixel's solid angle, P the
polarisation factor (horizontal linear polarisation, as at an XFEL) and F the scattering
amplitude in electrons; then multiplied by a per-pulse fluence jitter, plus a diffuse
background, Poisson-sampled (shot noise), optionally converted to ADU by a detector gain, plus
optional Gaussian read noise, zeroed in masked pixels and summed in ``binning x binning``
blocks. The setup follows the SpeckleNN simulations (Wang et al., Sec. IV.A.1: 1.66 keV, 1e12
photons per pulse, 0.5 um beam radius, 172 x 172 detector at 0.1 m with beam stop and gap,
96 x 96 centre crop), which used skopi; :meth:`Detector.pnccd_back` with
``adu_per_photon=PR772_ADU_PER_PHOTON`` and ``read_noise=PR772_READ_NOISE_ADU`` gives frames
in the units and geometry of the bundled real PR772 frames.

Cost: the 3-D amplitude is computed once per structure and q range (cached); each pattern is
then a trilinear interpolation of the amplitude on the detector's pixels plus one Poisson
draw per pixel (rates: benchmarks/speed/simulator_speed.py, docs/results.md). Patterns are made in
blocks of 64, each with its own random stream, so that ``n_jobs`` can spread one structure's
blocks over threads without changing the output.
"""

import functools
import numbers
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.spatial.transform import Rotation
from sklearn.utils import check_random_state

from skspeckle.detector import Detector, wavelength
from skspeckle.simulation.amplitude import FourierAmplitude
from skspeckle.simulation.nonsample import (
    SALT_ELECTRON_DENSITY,
    WATER_ELECTRON_DENSITY,
    cluster_intensity,
    droplet_intensity,
    streak_intensity,
)
from skspeckle.simulation.structures import Structure, list_structures, load_structure

__all__ = ["CLASSES", "CLASSICAL_ELECTRON_RADIUS", "make_speckle_patterns"]

CLASSES = ("single-hit", "multi-hit", "non-sample-hit", "no-hit")
CLASSICAL_ELECTRON_RADIUS = 2.8179403262e-15  # m (CODATA 2018)

_MULTI_HIT_SIZES = (2, 3, 4)
_MAX_PARTICLES = max(_MULTI_HIT_SIZES)
_DROPLET_RADIUS = (200.0, 2000.0)  # Å, log-uniform: 20-200 nm buffer droplets
_GRAIN_RADIUS = (50.0, 200.0)  # Å, log-uniform: 5-20 nm salt grains
_GRAINS_PER_CLUSTER = (2, 8)  # inclusive
_ROD_RADIUS = (30.0, 150.0)  # Å, log-uniform: 3-15 nm needles / fibres
_SLICES_PER_CALL = 64  # orientations interpolated per call (bounds memory)
# Patterns per noise / read-out step: bounds the float64 temporaries (~15 MB for 64 frames of
# 172 x 172) instead of hundreds of MB for a whole class.
_PATTERNS_PER_STEP = 64


def _equivalent_radius(structure):
    # Radius of the homogeneous sphere with the same radius of gyration, Rg = sqrt(3/5) R.
    return np.sqrt(5 / 3) * structure.radius_of_gyration


def _aggregate_centers(rng, radii, ball_radius):
    """Centres of non-overlapping spheres of the given radii, uniform in a ball."""
    while True:  # restart in the rare case that random sequential placement jams
        centers = []
        for _ in range(200 * len(radii)):
            v = rng.normal(size=3)
            c = v / np.linalg.norm(v) * ball_radius * rng.random() ** (1 / 3)
            r = radii[len(centers)]
            if all(np.linalg.norm(c - o) >= r + radii[j] for j, o in enumerate(centers)):
                centers.append(c)
                if len(centers) == len(radii):
                    return np.array(centers)


def _log_uniform(rng, bounds, size=None):
    return np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]), size=size))


class _PatternFactory:
    """Expected |F|^2 (electrons^2, float32) on a detector's good pixels, class by class."""

    def __init__(self, structure, detector, photon_energy_kev, beam_radius, cache_dir):
        self.structure = structure
        self.detector = detector
        self.energy = photon_energy_kev
        self.beam_radius = beam_radius
        self.cache_dir = cache_dir
        self.q = detector.q_vectors(photon_energy_kev)[detector.mask]  # (P, 3), lab frame

    @functools.cached_property
    def amplitude(self):
        # Only the classes with the particle in the beam need it.
        q_max = np.linalg.norm(self.q, axis=1).max()
        return FourierAmplitude.from_structure(self.structure, q_max, cache_dir=self.cache_dir)

    def _intensity(self, rotations, shifts, sizes):
        """|sum_j exp(-2 pi i q . t_j) F(R_j^T q)|^2 per pattern of ``sizes`` particles."""
        out = np.empty((len(sizes), len(self.q)), dtype=np.float32)
        ends = np.cumsum(sizes)
        first = 0
        while first < len(sizes):
            # Whole patterns, up to _SLICES_PER_CALL orientations per interpolation call.
            lo = ends[first] - sizes[first]
            last = max(first + 1, np.searchsorted(ends, lo + _SLICES_PER_CALL, side="right"))
            hi = ends[last - 1]
            f = self.amplitude.slices(self.q, rotations[lo:hi])
            if shifts is not None:
                phase = np.float32(-2 * np.pi) * (shifts[lo:hi] @ self.q.T).astype(np.float32)
                f *= np.cos(phase) + np.complex64(1j) * np.sin(phase)
                f = np.add.reduceat(f, ends[first:last] - sizes[first:last] - lo, axis=0)
            out[first:last] = f.real**2 + f.imag**2
            first = last
        return out

    def single_hit(self, rng, n):
        rotations = Rotation.random(n, rng)
        sizes = np.ones(n, dtype=int)
        e2 = self._intensity(rotations.as_matrix(), None, sizes)
        return e2, sizes, _per_pattern(rotations.as_quat(), np.zeros((n, 3)), sizes)

    def multi_hit(self, rng, n):
        """2-4 particles of one aggregate, each randomly oriented, amplitudes added coherently.

        Multi hits in SPI are dominated by clusters that formed in the aerosol, not by
        independent particles scattered over the 1 um focus (those would give fringes of
        period 1 / (separation) ~ 2e-4 Å^-1, far finer than a pixel). The particles are
        modelled as non-overlapping spheres of the structure's equivalent radius
        ``r = sqrt(5/3) Rg``, centred in a ball of radius 3 r (an aggregate about three
        particle diameters wide).
        """
        sizes = rng.choice(_MULTI_HIT_SIZES, size=n)
        r = _equivalent_radius(self.structure)
        shifts = np.concatenate([_aggregate_centers(rng, np.full(k, r), 3 * r) for k in sizes])
        rotations = Rotation.random(len(shifts), rng)
        e2 = self._intensity(rotations.as_matrix(), shifts, sizes)
        return e2, sizes, _per_pattern(rotations.as_quat(), shifts, sizes)

    def non_sample_hit(self, rng, n):
        """One of three sources, equally likely (see :mod:`skspeckle.simulation.nonsample`).

        - a buffer droplet (water sphere, radius 20-200 nm);
        - a cluster of 2-8 salt grains (radii 5-20 nm), non-overlapping, centred uniformly in a
          ball of radius ``1.5 R_max k^(1/3)`` for k grains of largest radius R_max (a compact
          aggregate);
        - a streak: a salt needle of radius 3-15 nm crossing the whole focus (illuminated
          length = beam diameter) perpendicular to the beam, at a uniformly random angle in
          the detector plane.

        Radii are log-uniform.
        """
        out = np.empty((n, len(self.q)), dtype=np.float32)
        for i in range(n):
            source = rng.integers(3)
            if source == 0:
                radius = _log_uniform(rng, _DROPLET_RADIUS)
                image = droplet_intensity(
                    self.detector, self.energy, radius, electron_density=WATER_ELECTRON_DENSITY
                )
            elif source == 1:
                k = rng.integers(_GRAINS_PER_CLUSTER[0], _GRAINS_PER_CLUSTER[1] + 1)
                radii = _log_uniform(rng, _GRAIN_RADIUS, size=k)
                centers = _aggregate_centers(rng, radii, 1.5 * radii.max() * k ** (1 / 3))
                image = cluster_intensity(
                    self.detector,
                    self.energy,
                    centers,
                    radii,
                    electron_density=SALT_ELECTRON_DENSITY,
                )
            else:
                angle = rng.uniform(0, np.pi)
                image = streak_intensity(
                    self.detector,
                    self.energy,
                    _log_uniform(rng, _ROD_RADIUS),
                    2e10 * self.beam_radius,
                    [np.cos(angle), np.sin(angle), 0.0],
                    electron_density=SALT_ELECTRON_DENSITY,
                )
            out[i] = image[self.detector.mask]
        return out, np.zeros(n, dtype=int), None

    def no_hit(self, rng, n):
        return np.zeros((n, len(self.q)), dtype=np.float32), np.zeros(n, dtype=int), None


def _per_pattern(quats, shifts, sizes):
    """Quaternions (n, 4, 4) and positions (n, 4, 3) per pattern, NaN beyond its particles."""
    n = len(sizes)
    q = np.full((n, _MAX_PARTICLES, 4), np.nan)
    t = np.full((n, _MAX_PARTICLES, 3), np.nan)
    rows = np.repeat(np.arange(n), sizes)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    q[rows, slot] = quats
    t[rows, slot] = shifts
    return q, t


def _block_seeds(seed, n_classes, n_blocks):
    """One independent seed per (class, block of patterns): the output cannot depend on how
    the blocks are scheduled over threads."""
    return [
        [
            np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, c, b))
            for b in range(n_blocks)
        ]
        for c in range(n_classes)
    ]


def _simulate(
    structure,
    classes,
    n_per_class,
    detector,
    photon_energy_kev,
    fluence,
    beam_radius,
    fluence_jitter,
    background,
    shot_noise,
    adu_per_photon,
    read_noise,
    binning,
    seed,
    cache_dir,
    n_threads,
):
    factory = _PatternFactory(structure, detector, photon_energy_kev, beam_radius, cache_dir)
    if {"single-hit", "multi-hit"} & set(classes):
        _ = factory.amplitude  # load it once, before the threads need it
    omega_p = (detector.solid_angle() * detector.polarization("horizontal"))[detector.mask]
    photons_per_e2 = fluence * CLASSICAL_ELECTRON_RADIUS**2 * omega_p
    # Background per pixel, following the same dOmega P as Thomson scattering of a diffuse
    # source, normalised to the beam-centre pixel (dOmega = pixel_size^2 / distance^2).
    relative = omega_p / (detector.pixel_size / detector.distance) ** 2
    h, w = detector.shape[0] // binning, detector.shape[1] // binning
    X = np.empty((len(classes) * n_per_class, h, w), dtype=np.float32)
    n_particles = np.empty(len(X), dtype=int)
    orientations = np.full((len(X), _MAX_PARTICLES, 4), np.nan)
    positions = np.full((len(X), _MAX_PARTICLES, 3), np.nan)
    starts = range(0, n_per_class, _PATTERNS_PER_STEP)
    seeds = _block_seeds(seed, len(classes), len(starts))

    def block(c, b):
        rng = np.random.default_rng(seeds[c][b])
        lo = starts[b]
        n = min(_PATTERNS_PER_STEP, n_per_class - lo)
        e2, counts, poses = getattr(factory, classes[c].replace("-", "_"))(rng, n)
        # Log-normal with mean 1: exp(sigma z - sigma^2 / 2), z ~ N(0, 1).
        jitter = np.exp(fluence_jitter * rng.standard_normal(n) - fluence_jitter**2 / 2)
        expected = jitter[:, None] * (e2 * photons_per_e2 + background * relative)
        signal = (rng.poisson(expected) if shot_noise else expected).astype(np.float32)
        if adu_per_photon is not None:
            signal *= np.float32(adu_per_photon)
        if read_noise > 0:
            signal += rng.normal(0.0, read_noise, size=signal.shape).astype(np.float32)
        image = np.zeros((n, *detector.shape), dtype=np.float32)
        image[:, detector.mask] = signal
        first = c * n_per_class + lo
        X[first : first + n] = image.reshape(n, h, binning, w, binning).sum(axis=(2, 4))
        n_particles[first : first + n] = counts
        if poses is not None:
            orientations[first : first + n], positions[first : first + n] = poses

    tasks = [(c, b) for c in range(len(classes)) for b in range(len(starts))]
    if n_threads > 1 and len(tasks) > 1:
        # numpy releases the GIL in the gathers, ufuncs and random draws that dominate a
        # block, so threads share the amplitude in memory and still run in parallel.
        with ThreadPoolExecutor(min(n_threads, len(tasks))) as pool:
            list(pool.map(lambda task: block(*task), tasks))
    else:
        for task in tasks:
            block(*task)
    return X, n_particles, orientations, positions


def _check_positive(name, value, *, allow_zero=False, hint=""):
    ok = (
        isinstance(value, numbers.Real)
        and np.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        need = "a finite number >= 0" if allow_zero else "a finite positive number"
        raise ValueError(f"{name} must be {need}, got {value!r}{hint}.")
    return float(value)


def make_speckle_patterns(
    structures=None,
    *,
    n_per_class=100,
    classes=("single-hit", "multi-hit", "non-sample-hit"),
    detector=None,
    binning=2,
    photon_energy_kev=1.66,
    n_photons=1e12,
    beam_radius=0.5e-6,
    fluence_jitter=0.5,
    background=0.01,
    read_noise=0.0,
    shot_noise=True,
    adu_per_photon=None,
    cache_dir=None,
    n_jobs=None,
    random_state=None,
    return_n_particles=False,
    return_orientations=False,
):
    """Simulate labelled SPI speckle patterns of real structures, as in SpeckleNN.

    For every structure and class, ``n_per_class`` patterns. The classes (labels are these
    strings):

    - ``"single-hit"``: one particle in a uniformly random orientation.
    - ``"multi-hit"``: an aggregate of 2, 3 or 4 particles (equally likely), each randomly
      oriented, non-overlapping, within a ball about three particle diameters wide;
      amplitudes added coherently with phases ``exp(-2 pi i q . t_j)``.
    - ``"non-sample-hit"``: parasitic scattering only, equally often a buffer droplet (water
      sphere, 20-200 nm), a cluster of 2-8 salt grains (5-20 nm) or a streak through the beam
      centre from a needle (3-15 nm radius) crossing the focus; see
      :mod:`skspeckle.simulation.nonsample`.
    - ``"no-hit"``: only the diffuse background and detector noise.

    The Fourier amplitude of each structure is computed once on a grid set by the detector's
    largest ``|q|`` and cached on disk (:meth:`FourierAmplitude.from_structure`); slices through
    it are interpolated trilinearly on a grid refined 2x by its quadratic spline.

    Any :class:`Detector` works: non-square, off-centre beam, any mask. For frames that look
    like the bundled real PR772 ones (:func:`skspeckle.datasets._pr772.load_pr772_frames`), use
    ``detector=Detector.pnccd_back(distance)``, ``binning=1``, ``photon_energy_kev=1.6``,
    ``adu_per_photon=PR772_ADU_PER_PHOTON`` and ``read_noise=PR772_READ_NOISE_ADU``, with the
    distance chosen for the particle's size as :meth:`Detector.pnccd_back` explains. A PDB
    particle scatters far less than the 60-70 nm virus: with the default pulse 3jb9 (86,551
    atoms, at 0.24 m) gives ~5e3-1e4 photons per single hit where the real single-looking
    frames hold 0.8-2.4e5, so raise ``n_photons`` 10-30x for real-like counts (SpeckleNN
    also trained at 100x its baseline fluence, Fig. 7).

    Parameters
    ----------
    structures : None, str, os.PathLike, Structure or list of these, default=None
        Bundled ids (:func:`list_structures`), PDB/mmCIF paths or loaded structures. None means
        all bundled structures.
    n_per_class : int, default=100
        Patterns per class per structure.
    classes : sequence of str, default=("single-hit", "multi-hit", "non-sample-hit")
        Which classes to simulate, in output order; any of the four labels above.
    detector : Detector or None, default=None
        Unbinned detector geometry and mask. None means ``Detector.speckle_nn().crop(96)``.
    binning : int, default=2
        Sum ``binning x binning`` blocks of pixels (after noise, as a detector read-out would),
        so the default frames are 48 x 48; 1 keeps full resolution. The frames' geometry and
        mask are ``detector.bin(binning)``.
    photon_energy_kev : float, default=1.66
        Photon energy in keV.
    n_photons : float, default=1e12
        Photons per pulse.
    beam_radius : float, default=0.5e-6
        Radius in metres of the (flat-top) focus; fluence ``n_photons / (pi beam_radius^2)``.
    fluence_jitter : float, default=0.5
        sigma of the log-normal per-pulse fluence multiplier ``exp(sigma z - sigma^2 / 2)``
        (mean 1, 95 % between 0.33 and 2.3 times the mean for 0.5). It stands for the broad
        photon-number distribution of real hits (SpeckleNN Fig. 5, PR772, mean 1.5e7 photons
        per single hit), which comes mostly from where the particle crosses the focus; the
        logarithms of the totals of the eight single-looking bundled PR772 frames have a
        standard deviation of 0.45 (:mod:`skspeckle.datasets._pr772`). 0 disables it.
    background : float, default=0.01
        Mean diffuse background (residual gas, beamline scatter) in photons per unbinned pixel
        at the beam centre, scaled elsewhere by dOmega P and by the pulse's fluence
        multiplier; present in every class. 0 disables it.
    read_noise : float, default=0.0
        Standard deviation of Gaussian read noise per unbinned pixel, in the output unit:
        photons, or ADU when ``adu_per_photon`` is given (1.4 ADU for the real pnCCD frames,
        :data:`~skspeckle.datasets._pr772.PR772_READ_NOISE_ADU`). Added after the gain, so
        frames can be negative, as dark-subtracted detector frames are.
    shot_noise : bool, default=True
        Poisson-sample the photon counts. False returns the expected counts (plus read
        noise), e.g. for noise-free checks.
    adu_per_photon : float or None, default=None
        Detector gain. None returns photons; a number returns ADU = gain x photons (+ read
        noise), e.g. :data:`~skspeckle.datasets._pr772.PR772_ADU_PER_PHOTON` (7.6, measured on
        the real pnCCD frames).
    cache_dir : str, os.PathLike, None or False, default=None
        Cache of Fourier amplitudes; None means ``$SKSPECKLE_CACHE_DIR`` or
        ``~/.cache/skspeckle``, False disables caching.
    n_jobs : int or None, default=None
        Parallel workers (joblib's convention: None is 1, -1 all CPUs). Structures are
        spread over loky processes, ``min(n_jobs, n_structures)`` of them; each process
        imports the package and reads its structure's amplitude (seconds of start-up). The
        workers left over, when there are fewer structures than ``n_jobs``, run as threads
        within a structure, on blocks of 64 patterns sharing its amplitude in memory (e.g.
        one structure with ``n_jobs=2``: two threads). The output does not depend on
        ``n_jobs``: every block of patterns has its own random stream.
    random_state : int, RandomState instance or None, default=None
        Seed of everything random: orientations, aggregates, jitter, noise.
    return_n_particles : bool, default=False
        Also return the number of sample particles in each pattern.
    return_orientations : bool, default=False
        Also return the pose of every particle: its orientation and its position. The
        random draws are the same either way, so the patterns do not change.

    Returns
    -------
    X : ndarray of float32 of shape (n_samples, H // binning, W // binning)
        Photons per (binned) pixel, or ADU with ``adu_per_photon``; masked pixels are 0.
        ``n_samples = n_structures * len(classes) * n_per_class``, ordered by structure,
        then class.
    y : ndarray of str of shape (n_samples,)
        Class labels.
    groups : ndarray of str of shape (n_samples,)
        Structure id of each pattern (for group-aware splits).
    n_particles : ndarray of int of shape (n_samples,)
        Only with ``return_n_particles``: 1 for single hits, 2-4 for multi hits, 0 otherwise.
    orientations : ndarray of float64 of shape (n_samples, 4, 4)
        Only with ``return_orientations``: ``orientations[i, j]`` is the unit quaternion
        ``(x, y, z, w)`` (scalar last, as :meth:`scipy.spatial.transform.Rotation.as_quat`)
        of particle j of pattern i; rows beyond the pattern's particles, and every row of
        non-sample hits and no hits, are NaN. It rotates the particle: an atom at ``r`` in
        the structure's frame (:attr:`Structure.positions`, centred) sits at
        ``R r + t`` in the lab frame of :meth:`Detector.q_vectors` (z along the beam), with
        ``R = Rotation.from_quat(orientations[i, j])`` and ``t = positions[i, j]``, so the
        particle scatters ``F(R^T q) exp(-2 pi i q . t)``. Recover it with
        ``Rotation.from_quat(orientations[i, :n_particles[i]])``.
    positions : ndarray of float64 of shape (n_samples, 4, 3)
        Only with ``return_orientations``: the particle centres ``t`` in Å, lab frame; 0
        for single hits (the particle at the origin), the centres within the aggregate for
        multi hits; NaN where ``orientations`` is.

    Raises
    ------
    ValueError
        If an argument is invalid (unknown class label, non-positive energy, binning not
        dividing the detector, ...); the message names the fix.
    FileNotFoundError
        If a structure is neither bundled nor an existing file.

    Examples
    --------
    >>> from skspeckle.datasets import make_speckle_patterns
    >>> X, y, groups = make_speckle_patterns(
    ...     ["1n7g"], n_per_class=2, cache_dir=False, random_state=0
    ... )
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((6, 48, 48), dtype('float32'), ['multi-hit', 'non-sample-hit', 'single-hit'])
    """
    if isinstance(classes, str):
        classes = (classes,)
    classes = tuple(classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(
            f"classes must be distinct labels among {CLASSES}, got {classes!r}"
            + (f" (unknown: {unknown})" if unknown else "")
            + "."
        )
    if not isinstance(n_per_class, numbers.Integral) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}.")
    wavelength(photon_energy_kev)  # validates the energy
    n_photons = _check_positive("n_photons", n_photons, hint=" (photons per pulse, e.g. 1e12)")
    beam_radius = _check_positive(
        "beam_radius", beam_radius, hint=" (in metres, e.g. 0.5e-6 for a 0.5 um focus)"
    )
    fluence_jitter = _check_positive(
        "fluence_jitter",
        fluence_jitter,
        allow_zero=True,
        hint=" (log-normal sigma; 0 disables the jitter)",
    )
    background = _check_positive(
        "background", background, allow_zero=True, hint=" (photons per pixel; 0 disables it)"
    )
    read_noise = _check_positive(
        "read_noise",
        read_noise,
        allow_zero=True,
        hint=" (photons, or ADU with adu_per_photon; 0 disables it)",
    )
    if adu_per_photon is not None:
        adu_per_photon = _check_positive(
            "adu_per_photon",
            adu_per_photon,
            hint=" (ADU per photon, e.g. 7.6 for the PR772 pnCCD frames; None returns photons)",
        )
    if detector is None:
        detector = Detector.speckle_nn().crop(96)
    if not isinstance(detector, Detector):
        raise ValueError(
            f"detector must be a Detector (e.g. Detector.speckle_nn().crop(96)), "
            f"got {type(detector).__name__}."
        )
    if not isinstance(binning, numbers.Integral):
        raise ValueError(f"binning must be a positive integer, got {binning!r}.")
    detector.bin(binning)  # validates that binning divides the detector shape
    if structures is None:
        structures = [entry["id"] for entry in list_structures()]
    elif isinstance(structures, (str, Structure)) or hasattr(structures, "__fspath__"):
        structures = [structures]
    structures = [load_structure(s) for s in structures]
    if not structures:
        raise ValueError(
            "structures is empty; pass None for all bundled structures or a list "
            "of ids, paths or Structure objects."
        )

    fluence = n_photons / (np.pi * beam_radius**2)
    seeds = np.random.SeedSequence(
        check_random_state(random_state).randint(2**32, size=4, dtype=np.uint64)
    ).spawn(len(structures))
    # Processes take whole structures; the workers left over (fewer structures than n_jobs)
    # become threads inside each process.
    n_workers = effective_n_jobs(n_jobs)
    n_processes = min(n_workers, len(structures))
    results = Parallel(n_jobs=n_processes)(
        delayed(_simulate)(
            s,
            classes,
            int(n_per_class),
            detector,
            float(photon_energy_kev),
            fluence,
            beam_radius,
            fluence_jitter,
            background,
            bool(shot_noise),
            adu_per_photon,
            read_noise,
            int(binning),
            seed,
            cache_dir,
            max(1, n_workers // n_processes),
        )
        for s, seed in zip(structures, seeds)
    )
    X = np.concatenate([r[0] for r in results])
    y = np.tile(np.repeat(np.array(classes), n_per_class), len(structures))
    groups = np.repeat(np.array([s.id for s in structures]), len(classes) * n_per_class)
    out = (X, y, groups)
    if return_n_particles:
        out += (np.concatenate([r[1] for r in results]),)
    if return_orientations:
        out += tuple(np.concatenate([r[k] for r in results]) for k in (2, 3))
    return out
