"""A SpeckleNN embedder pretrained on many particles, shipped with the package.

SpeckleNN's offline use (Wang et al., Sec. IV.A): an embedding trained once on the four hit
classes of many particles classifies the patterns of a particle it has never seen from a
few labelled frames, with no training. :func:`load_embedder` returns that embedder, fitted::

    from sklearn.pipeline import make_pipeline
    from skspeckle import DetectorMask, FewShotCentroidClassifier
    from skspeckle.pretrained import load_embedder

    pipe = make_pipeline(DetectorMask(0.25), load_embedder(), FewShotCentroidClassifier(k=5))
    pipe.fit(X_labelled, y_labelled)  # 5 frames per class: stores the supports, trains nothing

The weights (``data/speckle_net.safetensors``, float16) and their provenance
(``data/speckle_net.json``: training command, seed, structures, the structures held out,
versions, date, wall time, SHA-256) come from ``benchmarks/tools/train_pretrained.py``. They
expect the simulator's default frames: 48 x 48 pixels (the 96 x 96 centre of the SpeckleNN
detector binned 2 x 2, :func:`skspeckle.datasets.make_speckle_patterns`), photon counts; each
frame is standardised inside the network, so the absolute fluence does not matter. Accuracy on
never-seen particles: ``docs/results.md``, "Pretrained embedder". Frames of another detector
geometry reach that grid through :class:`~skspeckle.preprocessing.QGridResampler`
(``target="pretrained"`` is :func:`frame_geometry`); for a particle larger than the training
particles, its ``q_scale`` (:func:`q_scale_for`) shows the frames at their size.
"""

import hashlib
import json
from functools import cache
from pathlib import Path

__all__ = [
    "WEIGHTS",
    "PROVENANCE",
    "load_embedder",
    "embedder_provenance",
    "frame_geometry",
    "q_scale_for",
]

_DATA = Path(__file__).parent / "data"
#: The network's ``state_dict`` (safetensors, float16): pass it as ``init_from``.
WEIGHTS = _DATA / "speckle_net.safetensors"
#: Its provenance (JSON).
PROVENANCE = _DATA / "speckle_net.json"


@cache
def embedder_provenance():
    """How the shipped weights were made, with their SHA-256 checked.

    Returns
    -------
    provenance : dict
        The parsed ``speckle_net.json``: ``command``, ``seed``, ``structures`` (PDB ids
        trained on), ``held_out_structures`` (never simulated for training: every bundled
        structure and the offline benchmark's never-seen particles), ``estimator`` (the
        :class:`~skspeckle.embedding.TripletEmbedder` parameters), ``classes``,
        ``skspeckle_version``, ``date_utc``, ``wall_seconds``, ``sha256`` and more.

    Raises
    ------
    FileNotFoundError
        If the weights or the provenance file are missing (a broken installation).
    ValueError
        If the weights file does not match the SHA-256 of its provenance (a corrupted or
        replaced file); reinstall skspeckle.
    """
    for path in (WEIGHTS, PROVENANCE):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the installation of skspeckle is incomplete; reinstall it."
            )
    provenance = json.loads(PROVENANCE.read_text(encoding="utf-8"))
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    if digest != provenance["sha256"]:
        raise ValueError(
            f"{WEIGHTS} has SHA-256 {digest}, but its provenance records "
            f"{provenance['sha256']}: the file is corrupted or was replaced; reinstall skspeckle."
        )
    return provenance


def frame_geometry():
    """The detector, binning and photon energy of the frames the shipped weights were trained on.

    The simulator's defaults at training time (``benchmarks/tools/train_pretrained.py`` calls
    :func:`~skspeckle.datasets.make_speckle_patterns` with its default ``detector``,
    ``binning`` and ``photon_energy_kev``): the 96 x 96 centre of
    :meth:`Detector.speckle_nn <skspeckle.detector.Detector.speckle_nn>` read out binned
    2 x 2, at 1.66 keV (lambda = 7.47 Å); its corners reach ``|q|`` = 0.051 Å^-1.

    Returns
    -------
    detector : Detector
        The unbinned pixels: shape (96, 96), pixel size 6e-4 m, distance 0.1 m, beam centre
        (47.5, 47.5); the beam stop and the gap are False in its mask.
    binning : int
        2: the frames are 48 x 48 sums of 2 x 2 pixels (masked pixels adding nothing).
    photon_energy_kev : float
        1.66.

    Raises
    ------
    ValueError
        If the provenance's frame shape is not this detector's binned shape (weights from
        another training setup were installed).
    """
    from skspeckle.detector import Detector

    detector, binning = Detector.speckle_nn().crop(96), 2
    shape = tuple(embedder_provenance()["data"]["image_shape"])
    if shape != detector.bin(binning).shape:
        raise ValueError(
            f"The shipped weights were trained on {shape} frames, not on the 48 x 48 frames "
            "of the simulator's default geometry; their training geometry is unknown here, "
            "so give QGridResampler an explicit target Detector."
        )
    return detector, binning, 1.66


def q_scale_for(radius_of_gyration):
    """The :class:`~skspeckle.preprocessing.QGridResampler` ``q_scale`` for a particle's size.

    The shipped network learnt single from multi hits on particles of a radius of gyration of
    16-104 Å (median 30 Å, 80 % within 24-50 Å; ``embedder_provenance()["data"]
    ["radius_of_gyration_angstrom"]``). A larger particle has finer speckle, which the
    2 x 2-binned grid undersamples: its 5-shot accuracy falls to chance for Rg above 60 Å.
    By the scale similarity of the form factor (:class:`QGridResampler`, ``q_scale``), reading
    its frames at ``|q| / s`` with ``s = Rg / median`` shows them at the training median's
    size. Smaller particles are left as they are (``s = 1``): they lie within the training
    range. The source detector must sample ``|q| / s`` finely enough (an unbinned detector
    at least as fine in q as the grid's unbinned pixels, e.g. the pnCCD). Measured gain on
    never-seen particles: ``docs/results.md``, "Pretrained embedder".

    Parameters
    ----------
    radius_of_gyration : float
        The particle's radius of gyration in Å, e.g. from a model
        (:func:`skspeckle.datasets.load_structure`'s ``radius_of_gyration``, electron
        weighted), SAXS (Guinier) or, for a sphere of radius R, ``sqrt(3 / 5) R``.

    Returns
    -------
    q_scale : float
        ``max(1, radius_of_gyration / median)``, with the median of the training particles'
        radii of gyration (30.2 Å).

    Raises
    ------
    ValueError
        If ``radius_of_gyration`` is not a positive finite number of Å, or the provenance
        has no training radii (weights trained before they were recorded: run
        ``benchmarks/tools/train_pretrained.py --sizes-only``).

    Examples
    --------
    >>> from skspeckle.pretrained import q_scale_for
    >>> q_scale_for(20.0), round(q_scale_for(66.4), 2)  # a small protein; 4v4r, the 30S subunit
    (1.0, 2.2)
    """
    import numpy as np

    rg = float(radius_of_gyration)
    if not (np.isfinite(rg) and rg > 0):
        raise ValueError(
            f"radius_of_gyration must be a positive finite number of Å, got {radius_of_gyration!r}."
        )
    sizes = embedder_provenance()["data"].get("radius_of_gyration_angstrom")
    if sizes is None:
        raise ValueError(
            f"{PROVENANCE} does not record the training particles' radii of gyration; add them "
            "with benchmarks/tools/train_pretrained.py --sizes-only."
        )
    return max(1.0, rg / sizes["median"])


def load_embedder(**params):
    """The pretrained SpeckleNN embedder, fitted and ready to transform.

    A :class:`~skspeckle.embedding.TripletEmbedder` with ``init_from=WEIGHTS`` and
    ``max_epochs=0``: its ``fit`` copies the shipped weights and trains nothing, so a
    ``Pipeline`` that fits it (scikit-learn refits every step) only records the classes and
    the frame shape, and the weights stay bit-identical. ``clone`` keeps it so (the
    parameters are a path and numbers), hence ``GridSearchCV`` and ``cross_validate`` work.
    ``sklearn.frozen.FrozenEstimator(load_embedder())`` also works, and skips even that.

    For fine-tuning on the particle at hand (SpeckleNN's online scenario, Sec. IV.B), ask for
    epochs: ``load_embedder(max_epochs=60, augment=RandomRotation(),
    validation_fraction=1/3)`` trains from the pretrained weights instead of a random start.

    Parameters
    ----------
    **params
        :class:`~skspeckle.embedding.TripletEmbedder` parameters overriding the pretrained
        ones (``n_components=128``, ``margin=0.5``, ``normalize="standardize"``,
        ``init_from=WEIGHTS``, ``max_epochs=0``, ``validation_fraction=0.0``); e.g.
        ``device="cuda"``. ``n_components``, ``network``, ``activation`` and ``normalize``
        must stay as trained.

    Returns
    -------
    embedder : TripletEmbedder
        Fitted (``classes_`` are the four training classes until it is refitted); transforms
        frames of shape (n, 48, 48) or (n, 2304) into float32 unit vectors of shape (n, 128).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`embedder_provenance` (missing or corrupted weights).
    ValueError
        If ``params`` change the architecture or the input scaling of the trained network.

    See Also
    --------
    embedder_provenance : what the weights were trained on and which structures were held out.

    Notes
    -----
    Training data, classes, scaling and the held-out structures: the module docstring and
    ``embedder_provenance()``. Measured accuracy: ``docs/results.md``.

    Examples
    --------
    >>> from skspeckle.pretrained import load_embedder
    >>> emb = load_embedder(device="cpu")
    >>> emb.max_epochs, emb.normalize, emb.image_shape_
    (0, 'standardize', (48, 48))
    """
    import numpy as np

    from skspeckle.embedding import TripletEmbedder

    provenance = embedder_provenance()
    trained = provenance["estimator"]["params"]
    fixed = {k: trained[k] for k in ("n_components", "normalize")}
    expected = {**fixed, "activation": "relu"}
    changed = [k for k, v in expected.items() if k in params and params[k] != v]
    if params.get("network") not in (None, "speckle_nn"):  # None is the default network too
        changed.append("network")
    changed.sort()
    if changed:
        raise ValueError(
            f"load_embedder cannot change {', '.join(changed)}: the shipped weights were "
            f"trained with {fixed} and the default network. Train your own embedder "
            "(TripletEmbedder) for another architecture."
        )
    final = {
        **fixed,
        "margin": trained["margin"],
        "init_from": str(WEIGHTS),
        "max_epochs": 0,
        "validation_fraction": 0.0,
        **params,
    }
    embedder = TripletEmbedder(**{**final, "max_epochs": 0, "validation_fraction": 0.0})
    # Fitting with max_epochs=0 is what a pipeline does with it: it copies the weights and
    # records the frame shape; two placeholder frames per trained class give its classes.
    shape = tuple(provenance["data"]["image_shape"])
    classes = np.asarray(provenance["classes"])
    embedder.fit(np.zeros((2 * len(classes), *shape), dtype=np.float32), np.repeat(classes, 2))
    return embedder.set_params(**final)
