"""HDF5 / CXI frames: lazy chunked reading with bounded memory, atomic writing, results."""

import os
import tracemalloc
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from skspeckle.datasets import make_speckle_patterns
from skspeckle.io.cxi import (
    DATA_PATH,
    MASK_PATH,
    CXIWriter,
    FrameReader,
    read_frames,
    write_cxi,
)
from skspeckle.io.results import ResultsWriter, write_results


@pytest.fixture(scope="module")
def simulated(amplitude_cache):
    """X (9, 48, 48) photons, y, groups (str) and n_particles (int) of one particle."""
    return make_speckle_patterns(
        ["1n7g"], n_per_class=3, random_state=0, return_n_particles=True, cache_dir=amplitude_cache
    )


def _files(directory):
    return sorted(os.listdir(directory))


def test_round_trip_in_appends(tmp_path, simulated):
    X, y, groups, n_particles = simulated
    mask = np.ones(X.shape[1:], dtype=bool)
    mask[20:28, :] = False
    path = tmp_path / "sim.cxi"
    with CXIWriter(
        path, X.shape[1:], mask=mask, attrs={"photon_energy_kev": 1.66, "structures": ["1n7g"]}
    ) as writer:
        writer.append(X[:4], y[:4], groups[:4], n_particles[:4])
        writer.append(X[4:4], y[4:4], groups[4:4], n_particles[4:4])  # empty: a no-op
        writer.append(X[4:], y[4:], groups[4:], n_particles[4:])
        assert writer.n_frames == len(X)
        assert not path.exists()  # published only on close
    assert _files(tmp_path) == ["sim.cxi"]
    with FrameReader(path, chunk_frames=4) as reader:
        assert reader.shape == X.shape and len(reader) == len(X)
        assert reader.dtype == np.float32 and reader.data_paths == (DATA_PATH,)
        np.testing.assert_array_equal(reader[:], X)
        np.testing.assert_array_equal(reader.y, y)
        np.testing.assert_array_equal(reader.groups, groups)
        np.testing.assert_array_equal(reader.n_particles, n_particles)
        assert reader.y.dtype.kind == "U" and reader.n_particles.dtype.kind == "i"
        np.testing.assert_array_equal(reader.mask, mask)
        starts = [start for start, _ in reader.iter_chunks()]
        assert starts == [0, 4, 8]
        np.testing.assert_array_equal(np.concatenate([c for _, c in reader.iter_chunks()]), X)
    with h5py.File(path) as h5:
        assert h5.attrs["photon_energy_kev"] == 1.66
        assert h5.attrs["creator"].startswith("skspeckle ")
        assert h5[DATA_PATH].maxshape == (None, *X.shape[1:]) and h5[DATA_PATH].chunks
        assert h5[MASK_PATH][20, 0] == 1 and h5[MASK_PATH][0, 0] == 0  # CXI: 0 = good
    X2, y2, g2, n2 = read_frames(path, return_labels=True, return_n_particles=True)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(n2, n_particles)


def test_write_cxi_numeric_labels_and_storage_dtype(tmp_path):
    X = np.arange(5 * 3 * 4, dtype=np.float64).reshape(5, 3, 4)
    path = write_cxi(
        tmp_path / "a.h5", X, y=np.array([0, 1, 0, 1, 1]), dtype=np.uint16, compression=None
    )
    with FrameReader(path) as reader:
        assert reader.dtype == np.uint16
        frames = reader[:]
        assert frames.dtype == np.float32
        np.testing.assert_array_equal(frames, X)
        np.testing.assert_array_equal(reader.y, [0, 1, 0, 1, 1])
        assert reader.groups is None and reader.n_particles is None and reader.mask is None


def test_indexing_matches_numpy(tmp_path):
    X = np.random.default_rng(0).random((11, 3, 5), dtype=np.float32)
    path = write_cxi(tmp_path / "a.cxi", X)
    with FrameReader(path) as reader:
        for key in (
            0,
            -1,
            7,
            slice(2, 9),
            slice(None, None, 3),
            slice(9, 2, -2),
            slice(5, 5),
            [4, 1, 1, 10],
            np.array([-2, 0]),
        ):
            np.testing.assert_array_equal(reader[key], X[key])
        with pytest.raises(IndexError):
            reader[11]
        with pytest.raises(IndexError):
            reader[[0, 11]]
        with pytest.raises(TypeError):
            reader[1.5]


def test_panels_concatenated_along_rows(tmp_path):
    rng = np.random.default_rng(1)
    top, bottom = rng.random((4, 2, 6)), rng.random((4, 3, 6))
    asics = rng.random((4, 3, 2, 6))  # (n_frames, n_panels, h, w), psana's unassembled order
    path = tmp_path / "panels.h5"
    with h5py.File(path, "w") as h5:
        h5["front/data"], h5["back/data"], h5["cspad"] = top, bottom, asics
        h5["narrow"] = rng.random((4, 2, 5))
        h5["fewer"] = rng.random((3, 2, 6))
    frames = read_frames(path, ["front/data", "back/data"])
    np.testing.assert_array_equal(frames, np.concatenate([top, bottom], axis=1).astype(np.float32))
    with FrameReader(path, ["cspad", "front/data"], chunk_frames=3) as reader:
        assert reader.shape == (4, 8, 6)
        expected = np.concatenate([asics.reshape(4, 6, 6), top], axis=1).astype(np.float32)
        np.testing.assert_array_equal(
            np.concatenate([c for _, c in reader.iter_chunks()]), expected
        )
        np.testing.assert_array_equal(reader[[3, 0]], expected[[3, 0]])
    for other in ("narrow", "fewer"):
        with pytest.raises(ValueError, match="equal frame counts and widths"):
            FrameReader(path, ["front/data", other])
    with pytest.raises(KeyError, match="pass data_path"):
        FrameReader(path)  # several 3-D datasets and no CXI path: ambiguous


def test_chunked_reading_memory_is_bounded_by_the_chunk(tmp_path):
    # A 60 MB file of uint16 frames read as 4 MB float32 chunks: the traced peak must scale
    # with the chunk, not the file (a whole read would be 120 MB as float32).
    shape, n_frames, chunk = (256, 256), 480, 16
    path = tmp_path / "big.cxi"
    rng = np.random.default_rng(2)
    expected = 0.0
    with CXIWriter(path, shape, dtype=np.uint16, compression=None) as writer:
        for _ in range(n_frames // chunk):
            block = rng.integers(0, 1000, size=(chunk, *shape), dtype=np.uint16)
            expected += block.sum(dtype=np.float64)
            writer.append(block)
    assert os.path.getsize(path) > 60e6
    chunk_bytes = chunk * shape[0] * shape[1] * 4
    with FrameReader(path, chunk_frames=chunk) as reader:
        tracemalloc.start()
        try:
            total = 0.0
            for _, frames in reader.iter_chunks():
                total += frames.sum(dtype=np.float64)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == expected
    print(f"traced peak {peak / 2**20:.2f} MiB for {chunk_bytes / 2**20:.2f} MiB chunks")
    assert chunk_bytes <= peak < 3 * chunk_bytes, (peak, chunk_bytes)


def test_default_chunk_is_a_byte_budget(tmp_path):
    path = write_cxi(tmp_path / "a.cxi", np.zeros((2, 260, 257)))
    with FrameReader(path) as reader:
        assert reader.chunk_frames == (64 * 2**20) // (260 * 257 * 4)
    with pytest.raises(ValueError, match="chunk_frames"):
        FrameReader(path, chunk_frames=0)
    with pytest.raises(MemoryError, match="iter_chunks"):
        read_frames(path, max_bytes=1000)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with CXIWriter(tmp_path / "a.cxi", (4, 4)) as writer:
            writer.append(np.ones((3, 4, 4)), y=["a", "b", "c"])
            raise error
    assert _files(tmp_path) == []


def test_abandoned_writer_is_cleaned_up(tmp_path):
    writer = CXIWriter(tmp_path / "a.cxi", (4, 4))
    writer.append(np.ones((2, 4, 4)))
    assert len(_files(tmp_path)) == 1  # the temporary file
    del writer
    assert _files(tmp_path) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    path = write_cxi(tmp_path / "a.cxi", np.ones((2, 3, 3)))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_cxi(path, np.zeros((5, 3, 3)))
    np.testing.assert_array_equal(read_frames(path), np.ones((2, 3, 3)))
    write_cxi(path, np.zeros((5, 3, 3)), overwrite=True)
    np.testing.assert_array_equal(read_frames(path), np.zeros((5, 3, 3)))
    # An interrupted overwrite keeps the old file.
    with pytest.raises(RuntimeError):
        with CXIWriter(path, (3, 3), overwrite=True) as writer:
            writer.append(np.full((1, 3, 3), 7.0))
            raise RuntimeError
    np.testing.assert_array_equal(read_frames(path), np.zeros((5, 3, 3)))
    assert _files(tmp_path) == ["a.cxi"]


def test_append_checks(tmp_path):
    with CXIWriter(tmp_path / "a.cxi", (4, 4)) as writer:
        with pytest.raises(ValueError, match=r"shape \(n, 4, 4\)"):
            writer.append(np.ones((2, 4, 5)))
        with pytest.raises(ValueError, match=r"shape \(2,\)"):
            writer.append(np.ones((2, 4, 4)), y=["a"])
        writer.append(np.ones((2, 4, 4)), y=["a", "b"])
        with pytest.raises(ValueError, match="same labels in every append"):
            writer.append(np.ones((1, 4, 4)), y=["a"], groups=[0])
        with pytest.raises(ValueError, match="one type per label"):
            writer.append(np.ones((1, 4, 4)), y=[3])
    with pytest.raises(ValueError, match="boolean array"):
        CXIWriter(tmp_path / "b.cxi", (4, 4), mask=np.ones((4, 4)))
    with pytest.raises(RuntimeError, match="closed"):
        writer.append(np.ones((1, 4, 4)), y=["a"])


def test_unreadable_files_give_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.cxi"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(OSError, match="could not be opened as an HDF5/CXI file"):
        FrameReader(garbage)
    good = write_cxi(tmp_path / "good.cxi", np.ones((50, 32, 32)), compression=None)
    truncated = tmp_path / "truncated.cxi"
    truncated.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    with pytest.raises(OSError, match="truncated"):
        read_frames(truncated)
    with pytest.raises(FileNotFoundError):
        FrameReader(tmp_path / "missing.cxi")
    listing = r"Datasets in the file: .*entry_1/data_1/data \(50, 32, 32\)"
    with pytest.raises(KeyError, match=listing):
        FrameReader(good, "entry_1/data_1/dta")
    with pytest.raises(KeyError, match="Label dataset"):
        FrameReader(good, labels_path="entry_1/labels/nothing")
    with pytest.raises(ValueError, match="expected"):
        FrameReader(good, "cxi_version")


def test_mask_of_wrong_shape(tmp_path):
    path = write_cxi(tmp_path / "a.cxi", np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match=r"frame shape \(4, 4\)"):
        FrameReader(path, mask=np.ones((4, 5), dtype=bool))
    mask_file = tmp_path / "mask.npy"
    np.save(mask_file, np.ones((5, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"shape \(5, 4\)"):
        FrameReader(path, mask=mask_file)
    np.save(mask_file, np.eye(4, dtype=bool))
    with FrameReader(path, mask=mask_file) as reader:
        np.testing.assert_array_equal(reader.mask, np.eye(4, dtype=bool))


def test_results_new_file_and_in_place(tmp_path):
    labels = np.array(["single-hit", "multi-hit", "no-hit"])
    proba = np.random.default_rng(3).random((3, 2))
    out = write_results(
        tmp_path / "r.h5",
        {"predicted_label": labels, "probabilities": proba},
        attrs={"model_params": {"k": 5}},
    )
    with h5py.File(out) as h5:
        group = h5["skspeckle_results"]
        np.testing.assert_array_equal(group["predicted_label"].asstr()[()], labels)
        np.testing.assert_array_equal(group["probabilities"][()], proba)
        assert group.attrs["skspeckle_version"] and group.attrs["model_params"] == '{"k": 5}'
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_results(out, {"x": [1, 2, 3]})

    raw = write_cxi(tmp_path / "run.cxi", np.arange(27.0).reshape(3, 3, 3))
    write_results(raw, {"predicted_label": labels}, in_place=True)
    with h5py.File(raw) as h5:
        assert set(h5) == {"cxi_version", "entry_1", "skspeckle_results"}
        np.testing.assert_array_equal(h5[DATA_PATH][()], np.arange(27.0).reshape(3, 3, 3))
    with pytest.raises(ValueError, match="another group"):
        write_results(raw, {"predicted_label": labels}, in_place=True)
    with pytest.raises(ValueError, match="never replaced"):
        write_results(raw, {"predicted_label": labels}, in_place=True, group="entry_1/data_1")
    assert _files(tmp_path) == ["r.h5", "run.cxi"]


def test_failed_in_place_results_leave_no_group(tmp_path):
    raw = write_cxi(tmp_path / "run.cxi", np.ones((4, 2, 2)))
    with pytest.raises(KeyboardInterrupt):
        with ResultsWriter(raw, 4, in_place=True, group="entry_1/result_1") as writer:
            writer.write_rows(0, predicted_label=["a", "b"])
            raise KeyboardInterrupt
    with h5py.File(raw) as h5:
        names = []
        h5.visit(names.append)
        assert not any("result" in name for name in names), names
    # Incomplete results are refused; the data are still the same.
    with pytest.raises(RuntimeError, match="incomplete"):
        with ResultsWriter(raw, 4, in_place=True) as writer:
            writer.write_rows(0, predicted_label=["a", "b"])
    with pytest.raises(RuntimeError, match="incomplete"):
        with ResultsWriter(tmp_path / "r.h5", 4) as writer:
            writer.write_rows(0, predicted_label=["a", "b"])
    np.testing.assert_array_equal(read_frames(raw), np.ones((4, 2, 2)))
    assert _files(tmp_path) == ["run.cxi"]


def test_real_pr772_frames_kept_bit_for_bit(tmp_path):
    source = (
        Path(__file__).resolve().parents[3]
        / "shared"
        / "data"
        / "real_frames"
        / "pr772_pnccd_back_260x257_adu.npy"
    )
    if not source.is_file():
        pytest.skip(f"real data not available: {source}")
    frames = np.load(source)  # ADU, with +inf bad pixels and negative dark-subtracted noise
    path = write_cxi(tmp_path / "pr772.cxi", frames, attrs={"units": "ADU"})
    with FrameReader(path, chunk_frames=3) as reader:
        back = np.concatenate([chunk for _, chunk in reader.iter_chunks()])
    np.testing.assert_array_equal(back, frames)  # inf where inf, nothing cleaned
    assert np.isinf(back).sum() == np.isinf(frames).sum() > 0 and back.min() < 0


def _stored(path):
    with h5py.File(path) as h5:
        return h5[DATA_PATH][()], dict(h5[DATA_PATH].attrs)


@pytest.mark.parametrize(
    "dtype, value, match",
    [
        (
            np.uint16,
            -1.0,
            r"Frame 3 has the pixel value -1 at \(row 1, column 2\), below the uint16",
        ),
        (np.uint16, 70000.0, r"Frame 3 has the pixel value 70000 .*above the uint16 range"),
        (np.int8, -200, r"Frame 3 has the pixel value -200 .*below the int8 range \[-128, 127\]"),
        (np.float16, 1e5, r"Frame 3 has the pixel value 100000 .*above the float16 range"),
        (np.float32, -1e39, r"Frame 3 has the pixel value -1e\+39 .*below the float32 range"),
    ],
)
def test_values_the_storage_dtype_cannot_hold_are_refused(tmp_path, dtype, value, match):
    X = np.full((5, 3, 4), 7.0)
    X[3, 1, 2] = value
    if np.dtype(dtype).kind == "i":
        X = X.astype(np.int64)
    with pytest.raises(ValueError, match=match) as info:
        write_cxi(tmp_path / "a.cxi", X, dtype=dtype)
    assert "clip=True" in str(info.value)
    assert _files(tmp_path) == []  # nothing written, not even a temporary file
    # The frame index counts from the start of the file, across appends.
    with pytest.raises(ValueError, match=r"Frame 13 has"):
        with CXIWriter(tmp_path / "b.cxi", (3, 4), dtype=dtype) as writer:
            writer.append(np.full((10, 3, 4), 7.0))
            writer.append(X)
    assert _files(tmp_path) == []


def test_clip_clips_and_records_counts(tmp_path):
    path = tmp_path / "a.cxi"
    with CXIWriter(path, (2, 3), dtype=np.uint16, clip=True) as writer:
        writer.append(np.array([[[-3.0, 1.0, 2.0], [70000.0, np.inf, 5.0]]]))
        writer.append(np.full((2, 2, 3), 9.0))  # nothing to clip
        writer.append(np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, -np.inf]]]))
    data, attrs = _stored(path)
    assert data.dtype == np.uint16
    np.testing.assert_array_equal(data[0], [[0, 1, 2], [65535, 65535, 5]])
    np.testing.assert_array_equal(data[3], [[1, 2, 3], [4, 5, 0]])
    assert attrs["clipped_pixels"] == 4 and attrs["clipped_frames"] == 2
    np.testing.assert_array_equal(attrs["clip_range"], [0, 65535])
    # float16: the finite values beyond its range are clipped, inf stays a bad pixel.
    path = write_cxi(
        tmp_path / "b.cxi", np.array([[[1e5, -1e5, np.inf, 3.0]]]), dtype=np.float16, clip=True
    )
    data, attrs = _stored(path)
    np.testing.assert_array_equal(data, [[[65504, -65504, np.inf, 3]]])
    assert attrs["clipped_pixels"] == 2 and attrs["clipped_frames"] == 1
    # Without clip=True nothing is recorded.
    assert "clipped_pixels" not in _stored(write_cxi(tmp_path / "c.cxi", np.ones((1, 2, 2))))[1]


def test_integer_dtype_rounds_and_refuses_nan(tmp_path):
    X = np.array([[[2.4, 2.5, 3.5], [-0.4, 65534.6, 7.0]]])
    data, _ = _stored(write_cxi(tmp_path / "a.cxi", X, dtype=np.uint16))
    np.testing.assert_array_equal(data, [[[2, 2, 4], [0, 65535, 7]]])  # nearest, halves to even
    with pytest.raises(ValueError, match=r"above the uint16"):
        write_cxi(tmp_path / "b.cxi", X + 1, dtype=np.uint16)  # 65535.6 rounds to 65536
    X[0, 1, 1] = np.nan
    for clip in (False, True):
        with pytest.raises(ValueError, match=r"Frame 0 has NaN pixel\(s\), which the integer"):
            write_cxi(tmp_path / "c.cxi", X, dtype=np.int32, clip=clip)
    # 2**63 is just above int64's range although float(2**63 - 1) == 2**63.
    with pytest.raises(ValueError, match="above the int64 range"):
        write_cxi(tmp_path / "d.cxi", np.full((1, 1, 1), 2.0**63), dtype=np.int64)
    assert _files(tmp_path) == ["a.cxi"]


def test_casts_in_range_are_exact_and_warning_free(tmp_path):
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 65536, size=(6, 4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a cast
        for name, X, dtype in [
            ("a.cxi", counts, np.uint16),
            ("b.cxi", counts.astype(np.float64), np.uint16),
            ("c.cxi", np.where(counts > 60000, np.nan, counts / 100.0), np.float16),
            ("d.cxi", np.where(counts > 60000, np.inf, counts * 1e30), np.float32),
        ]:
            data, _ = _stored(write_cxi(tmp_path / name, X, dtype=dtype))
            np.testing.assert_array_equal(data, X.astype(dtype))
    with pytest.raises(ValueError, match="integer or floating dtype"):
        CXIWriter(tmp_path / "e.cxi", (2, 2), dtype=complex)
    with pytest.raises(ValueError, match="real numbers"):
        write_cxi(tmp_path / "e.cxi", np.ones((1, 2, 2)) * 1j)
