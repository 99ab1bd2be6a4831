"""Reading rate of European XFEL runs: AGIPD 1M frames per second, as modules and assembled.

:class:`skspeckle.io.euxfel.EuXFELRun` reads a corrected (proc) mock run of EXtra-data's
``make_modern_spb_proc_run`` (16 module files, 32 frames per train, float32 ``image.data``
plus the ``image.mask`` bad-pixel flags), whose first trains are filled with random values so
that HDF5 really reads them, chunk by chunk (``chunk_frames`` = 16, the 64 MiB default), as
``predict_file`` does. Three rates: the modules stacked (EXtra-data's read and the mask),
the frames assembled with an EXtra-geom ``AGIPD_1MGeometry`` (the read plus the assembly),
and the assembly alone (``position_modules`` on frames already in memory). The files were
just written, so they are read from the page cache: a rate of the code, not of GPFS.

The AGIPD 1M records at most 352 frames per train at 10 Hz, 3,520 frames/s; the rates say how
many such streams one process could keep up with offline, before the model's own cost
(benchmarks/speed/streaming_veto.py).

Usage::

    .venv/bin/python benchmarks/speed/euxfel_read.py --scale full
"""

import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from skspeckle.io.euxfel import EuXFELRun, agipd_geometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "euxfel_read"
QUADS = [(-525, 625), (-550, -10), (520, -160), (542.5, 475)]
FRAMES_PER_TRAIN = 32  # make_modern_spb_proc_run
AGIPD_MAX_RATE = 3520  # frames/s: 352 frames per train, 10 trains per second


def fill(run_dir, n_frames, seed):
    """Random float32 frames in the first ``n_frames`` rows of every module's image.data."""
    block = np.random.default_rng(seed).random((n_frames, 512, 128), dtype=np.float32)
    for path in sorted(Path(run_dir).glob("CORR-*AGIPD*.h5")):
        with h5py.File(path, "r+") as h5:
            found = []
            h5["INSTRUMENT"].visititems(
                lambda name, obj: found.append(name) if name.endswith("image/data") else None
            )
            for name in found:
                h5["INSTRUMENT"][name][:n_frames] = block


def read_all(run):
    """Seconds to read every frame of ``run`` chunk by chunk."""
    t0 = time.perf_counter()
    for _, frames in run.iter_chunks():
        assert frames.dtype == np.float32
    return time.perf_counter() - t0


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    from extra_data.tests.make_examples import make_modern_spb_proc_run

    n_trains = 1 if args.scale == "quick" else 8
    repeats = 1 if args.scale == "quick" else 3
    n_frames = n_trains * FRAMES_PER_TRAIN
    geometry = agipd_geometry(QUADS)
    results = {"n_frames": n_frames, "chunk_frames": 16, "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp:
        make_modern_spb_proc_run(tmp)
        fill(tmp, n_frames, args.seed)
        t0 = time.perf_counter()
        modules = EuXFELRun(tmp, trains=slice(0, n_trains))
        results["open_seconds"] = time.perf_counter() - t0
        assembled = EuXFELRun(tmp, trains=slice(0, n_trains), geometry=geometry)
        in_memory = modules[0:16].reshape(16, 16, 512, 128)
        times = _common.interleaved_times(
            {
                "modules": lambda: read_all(modules),
                "assembled": lambda: read_all(assembled),
                "assembly_only": lambda: [
                    geometry.position_modules(in_memory) for _ in range(n_frames // 16)
                ],
            },
            repeats,
        )
        modules.close()
        assembled.close()
    for name, seconds in times.items():
        rate = n_frames / seconds
        results[name] = {
            "seconds": seconds.tolist(),
            "frames_per_s_median": float(np.median(rate)),
            "fraction_of_agipd_max_rate": float(np.median(rate)) / AGIPD_MAX_RATE,
        }
        print(f"{name}: {np.median(rate):.1f} frames/s (median of {repeats})")
    _common.write_result(NAME, args, results, started)


if __name__ == "__main__":
    main()
