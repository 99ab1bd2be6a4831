"""European XFEL mock runs (EXtra-data's own example-run generators) filled with simulated SPI
patterns on the AGIPD 1M geometry, so that reading, assembly and classification are checked
against the real file layout."""

import numpy as np
import pytest
from euxfel_mock import (
    DISTANCE,
    ENERGY_KEV,
    PULSES,
    QUADS,
    SIM_BINNING,
    fill_run,
    module_index,
    spread,
    to_modules,
)

from skspeckle.datasets import make_speckle_patterns
from skspeckle.detector import Detector


@pytest.fixture(scope="session")
def agipd_geom():
    extra_geom = pytest.importorskip("extra_geom")
    return extra_geom.AGIPD_1MGeometry.from_quad_positions(QUADS)


@pytest.fixture(scope="session")
def agipd_patterns(agipd_geom, amplitude_cache):
    """Simulated single hits and no hits of 1n7g on the AGIPD 1M (0.7 m, 6 keV): ``(X_train,
    y_train)`` 16 frames and ``(X_run, y_run)`` 12 frames for the mock run, assembled images
    ``(n, 1256, 1092)`` with 0 in the gaps."""
    detector = Detector.from_extra_geom(agipd_geom, DISTANCE)
    X, y, _ = make_speckle_patterns(
        ["1n7g"],
        n_per_class=14,
        classes=("single-hit", "no-hit"),
        detector=detector.bin(SIM_BINNING),
        binning=1,
        photon_energy_kev=ENERGY_KEV,
        n_photons=1e13,
        background=0.001,
        cache_dir=amplitude_cache,
        random_state=0,
    )
    X = spread(X, SIM_BINNING, detector.mask)
    order = np.random.default_rng(0).permutation(len(X))
    train, run = order[:16], order[16:]
    return detector, (X[train], y[train]), (X[run], y[run])


@pytest.fixture(scope="session")
def agipd_model(agipd_patterns):
    """PixelBinning(16) -> flatten -> FewShotCentroidClassifier(k=2, centroid), fitted on the
    training frames (the few-shot rule on binned pixels: fast, and exact to compare)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skspeckle import FewShotCentroidClassifier, PixelBinning

    _, (X, y), _ = agipd_patterns
    h, w = X.shape[1] // 16, X.shape[2] // 16
    return make_pipeline(
        PixelBinning(16),
        FunctionTransformer(np.reshape, kw_args={"shape": (-1, h * w)}),
        FewShotCentroidClassifier(k=2, aggregation="centroid", random_state=0),
    ).fit(X, y)


@pytest.fixture(scope="session")
def proc_run(tmp_path_factory, agipd_geom, agipd_patterns):
    """A corrected (proc) mock run of EXtra-data's ``make_modern_spb_proc_run`` (16 modules,
    64 trains of 32 frames) with the simulated run frames at positions 0-3 of trains 0-2.
    Returns ``(run_dir, train_ids, pulse_ids)`` of the filled frames."""
    make_examples = pytest.importorskip("extra_data.tests.make_examples")
    run_dir = tmp_path_factory.mktemp("proc_r0142")
    make_examples.make_modern_spb_proc_run(str(run_dir))
    _, _, (X, _) = agipd_patterns
    train_ids = np.repeat(np.arange(10000, 10003), len(PULSES))
    pulse_ids = np.tile(PULSES, 3)
    fill_run(run_dir, to_modules(X, module_index(agipd_geom)), train_ids, pulse_ids)
    return run_dir, train_ids, pulse_ids
