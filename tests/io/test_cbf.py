"""The CBF reader, on the shared real SFX frames where they are available."""

import glob
import os

import numpy as np
import pytest

from skspeckle.io.cbf import read_cbf

CBF_DIR = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "data", "real_frames", "sfx_cbf"
)
CBF_FILES = sorted(glob.glob(os.path.join(CBF_DIR, "*.cbf")))
needs_cbf = pytest.mark.skipif(not CBF_FILES, reason="shared SFX CBF frames not available")


@pytest.fixture(scope="module")
def real_frames():
    return {os.path.basename(p): read_cbf(p, return_mask=True) for p in CBF_FILES}


@needs_cbf
def test_read_cbf_real_frames(real_frames):
    assert len(real_frames) == 5
    for name, (frame, mask) in real_frames.items():
        assert frame.dtype == np.float32 and mask.dtype == bool and frame.shape == mask.shape
        assert np.isfinite(frame).all()
        if name.startswith("idx-"):  # CSPAD: 4 quadrants x 8 sensors of 185 x 388
            assert frame.shape == (1480, 1552)
        else:  # Rayonix MX340 binned 2x2
            assert frame.shape == (1920, 1920)
        # A wrong neighbour prediction would accumulate into a random walk of huge values;
        # decoded correctly, the median is a dark-subtracted level of tens to hundreds of ADU.
        assert -50 < np.median(frame) < 1000


@needs_cbf
def test_read_cbf_fill_value_marks_bad_pixels(tmp_path):
    # Rewrite the Rayonix undefined value so that zero pixels (outside the active area)
    # count as undefined, and check that they are filled.
    raw = open([p for p in CBF_FILES if "rayonix" in p][0], "rb").read()
    patched = raw.replace(
        b"_array_intensities.undefined_value -1", b"_array_intensities.undefined_value 0"
    )
    path = tmp_path / "patched.cbf"
    path.write_bytes(patched)
    frame, mask = read_cbf(path, fill_value=np.nan, return_mask=True)
    assert (~mask).sum() > 0
    assert np.isnan(frame[~mask]).all() and np.isfinite(frame[mask]).all()


def test_read_cbf_errors(tmp_path):
    bad = tmp_path / "not.cbf"
    bad.write_bytes(b"###CBF: VERSION 1.5\ndata_x\n")
    with pytest.raises(ValueError, match="no CBF binary section"):
        read_cbf(bad)
    with pytest.raises(FileNotFoundError):
        read_cbf(tmp_path / "missing.cbf")
