"""Real detector masks in the conventions of Dragonfly, psana / Cheetah HDF5, CXI and NumPy."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from skspeckle.io.cxi import FrameReader, write_cxi
from skspeckle.io.masks import read_mask
from skspeckle.preprocessing import DetectorMask

# The project's shared data folder, ../shared/data next to the repository.
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BYT = DATA / "masks" / "dragonfly_mask_pnccd_back_260_257.byt"
PR772_MASK = DATA / "real_frames" / "pr772_pnccd_back_260x257_mask.npy"


def _need(*paths):
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real data not available: {missing}")


def test_dragonfly_byt():
    _need(BYT)
    mask = read_mask(BYT, shape=(260, 257))
    raw = np.fromfile(BYT, dtype=np.uint8).reshape(260, 257)
    assert mask.dtype == bool and mask.shape == (260, 257)
    assert set(np.unique(raw)) == {0, 1, 2}  # both flags 1 and 2 occur, and are masked
    np.testing.assert_array_equal(mask, raw == 0)
    with pytest.raises(ValueError, match=r"pass shape=\(H, W\)"):
        read_mask(BYT)
    with pytest.raises(ValueError, match="66820 bytes"):
        read_mask(BYT, shape=(256, 256))
    with pytest.raises(ValueError, match="allows only 0 and 1"):
        read_mask(BYT, shape=(260, 257), convention="good=1")


@pytest.mark.parametrize(
    "name, shape, dtype",
    [("mask_pnccd.h5", (1024, 1024), np.int16), ("mask_cspad.h5", (370, 388), np.int64)],
)
def test_hdf5_masks(name, shape, dtype):
    path = DATA / "masks" / name
    _need(path)
    mask = read_mask(path)
    with h5py.File(path) as h5:
        raw = h5["data/data"][()]
    assert raw.dtype == dtype and mask.shape == shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, raw == 1)  # 1 = good
    assert 0.5 < mask.mean() < 1  # mostly good pixels: the convention is not inverted
    np.testing.assert_array_equal(read_mask(path, convention="bad=1"), raw == 0)
    with pytest.raises(ValueError, match=r"shape=\(10, 10\)"):
        read_mask(path, shape=(10, 10))
    with pytest.raises(KeyError, match=r"data/data \(" + str(shape[0])):
        read_mask(path, dataset="data/mask")


def test_pr772_npy_needs_its_convention_and_agrees_with_dragonfly():
    _need(BYT, PR772_MASK)
    with pytest.raises(ValueError, match="bad=1"):
        read_mask(PR772_MASK)
    pr772 = read_mask(PR772_MASK, convention="bad=1")
    raw = np.load(PR772_MASK)
    np.testing.assert_array_equal(pr772, raw == 0)
    dragonfly = read_mask(BYT, shape=(260, 257))
    # Measured: every pixel bad in the PR772 mask is bad in the Dragonfly mask, which also
    # masks more (its flag 2 covers the outer region); they agree on about 91 % of pixels.
    assert not np.any(~pr772 & dragonfly)
    assert np.mean(pr772 == dragonfly) > 0.9
    # Both mask the horizontal gap between the two pnCCD panels (full rows of bad pixels).
    gap_pr772 = np.flatnonzero(~pr772.any(axis=1))
    assert len(gap_pr772) >= 4 and not dragonfly[gap_pr772].any()
    # The result feeds DetectorMask directly.
    frames = np.ones((2, 260, 257), dtype=np.float32)
    masked = DetectorMask(mask=pr772).fit_transform(frames)
    assert masked.sum() == 2 * pr772.sum()


def test_conventions_on_synthetic_files(tmp_path):
    flags = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    byt = tmp_path / "m.byt"
    flags.tofile(byt)
    np.testing.assert_array_equal(read_mask(byt, shape=(2, 2)), flags == 0)
    npy = tmp_path / "m.npy"
    np.save(npy, np.array([[True, False], [True, True]]))
    np.testing.assert_array_equal(read_mask(npy), [[True, False], [True, True]])
    np.testing.assert_array_equal(
        read_mask(npy, convention="bad=1"), [[False, True], [False, False]]
    )
    np.save(npy, np.array([[0.0, 1.0], [0.5, 0.0]]))
    with pytest.raises(ValueError, match=r"values \[0.5\]"):
        read_mask(npy, convention="good=0")
    np.save(npy, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no good pixel"):
        read_mask(npy, convention="good=1")
    np.save(npy, np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        read_mask(npy, convention="good=0")
    with pytest.raises(ValueError, match="convention must be one of"):
        read_mask(npy, convention="1=good")
    other = tmp_path / "m.tif"
    other.write_bytes(b"II*\x00")
    with pytest.raises(ValueError, match="Unknown mask format '.tif'"):
        read_mask(other)
    with pytest.raises(FileNotFoundError):
        read_mask(tmp_path / "none.byt", shape=(2, 2))


def test_cxi_mask_is_read_with_cxi_flags(tmp_path):
    good = np.array([[True, False, True], [True, True, False]])
    path = write_cxi(tmp_path / "a.cxi", np.ones((1, 2, 3)), mask=good)
    np.testing.assert_array_equal(read_mask(path), good)
    with h5py.File(path, "a") as h5:
        h5["entry_1/data_1/mask"][0, 0] = 4  # another CXI flag bit: still masked
    expected = good.copy()
    expected[0, 0] = False
    np.testing.assert_array_equal(read_mask(path), expected)
    with FrameReader(path) as reader:
        assert not reader.mask[0, 0] and reader.mask.sum() == good.sum() - 1
    with FrameReader(path, mask=None) as reader:
        assert reader.mask is None
