"""The code of docs/simulation_to_detector.md runs, in order, and prints what the page says.

The page's blocks run unchanged except for its one line of sizes (the benchmark's full scale),
replaced by a smaller one so that the test takes seconds of training.
"""

import re
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "simulation_to_detector.md"
FULL_SCALE = "N_CALIBRATION, N_PER_CLASS, MAX_EPOCHS = 64, 150, 40"
SMALL_SCALE = "N_CALIBRATION, N_PER_CLASS, MAX_EPOCHS = 16, 8, 1"


def _blocks():
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # shells in the beam stop
def test_the_page_code_runs_and_prints_what_the_page_says(amplitude_cache, monkeypatch, capsys):
    monkeypatch.setenv("SKSPECKLE_CACHE_DIR", str(amplitude_cache))
    blocks = _blocks()
    assert len(blocks) == 8
    code = "\n".join(blocks)
    assert code.count(FULL_SCALE) == 1
    namespace = {"__name__": "simulation_to_detector"}
    exec(compile(code.replace(FULL_SCALE, SMALL_SCALE), str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out
    # The numbers the page quotes in its comments are the ones the code prints on the
    # bundled frames (the simulated ones depend on the scale and are checked loosely).
    assert "zero-photon peak: 0.19 ADU, sd 1.41 ADU" in out
    assert "0.34 of good pixels negative, 2 non-finite" in out
    assert "1e3 photons per frame: [ 79 213  76 917 820  84 172 152  75  71]" in out
    assert "beta, real single-looking: [0.24 0.1  0.23]" in out
    assert "beta, real frames 3 and 4: [0.98 0.75 0.76]" in out
    assert 1e10 < namespace["n_photons"] < 1e11
    assert namespace["X_sim"].shape == (24, 260, 257)
    proba = namespace["proba"]
    assert proba.shape == (10, 3) and np.allclose(proba.sum(axis=1), 1)
    # The real single-looking frames' first minimum is where the page says (37.5 pixels,
    # 2.48e-3 Å^-1), and the PR772-sized icosahedron puts its own there too.
    q = namespace["q"]
    for profile in (
        np.nanmedian(namespace["real_profile"][namespace["single_looking"]], axis=0),
        np.nanmedian(namespace["sim_profile"], axis=0),
    ):
        window = (q > 0.0020) & (q < 0.0030)
        assert q[window][np.nanargmin(profile[window])] == pytest.approx(2.48e-3, abs=1.5e-4)
    assert np.isfinite(namespace["real_beta"][namespace["single_looking"]]).all()
