"""Helpers for European XFEL mock runs: EXtra-data's example runs filled with frames placed
by an EXtra-geom geometry (the fixtures are in this directory's conftest.py)."""

import re
from pathlib import Path

import h5py
import numpy as np

# The AGIPD 1M quadrant positions (mm) of the EXtra-geom documentation's examples.
QUADS = [(-525, 625), (-550, -10), (520, -160), (542.5, 475)]
DISTANCE, ENERGY_KEV = 0.7, 6.0
# Simulated on 4 x 4 binned pixels and spread back over the full pixels: 16 x cheaper.
SIM_BINNING = 4
N_MODULES, MODULE_SHAPE = 16, (512, 128)
# The frames filled: positions 0-3 of trains 0-2 (12 frames, 6 single hits, 6 no hits).
TRAINS, PULSES = slice(0, 3), [0, 1, 2, 3]


def module_index(geometry):
    """The assembled image of the module pixels' flat indices, -1 in the gaps."""
    shape = geometry.expected_data_shape  # (16, 512, 128) for the AGIPD 1M
    image, _ = geometry.position_modules(np.arange(np.prod(shape), dtype=np.float64).reshape(shape))
    return np.where(np.isfinite(image), image, -1).astype(np.int64)


def to_modules(images, index):
    """Assembled images ``(n, H, W)`` back to the module stack ``(n, 16, 512, 128)``."""
    out = np.zeros((len(images), N_MODULES * int(np.prod(MODULE_SHAPE))), dtype=np.float32)
    covered = index >= 0
    out[:, index[covered]] = images[:, covered]
    return out.reshape(len(images), N_MODULES, *MODULE_SHAPE)


def fill_run(run_dir, modules, train_ids, pulse_ids, gain=None):
    """Write ``modules`` ``(n, 16, 512, 128)`` into the ``image.data`` of a mock run, frame
    ``k`` at (``train_ids[k]``, ``pulse_ids[k]``); raw data also get ``gain`` in their gain
    plane."""
    for path in sorted(Path(run_dir).glob("*AGIPD*.h5")):
        with h5py.File(path, "r+") as h5:
            found = []
            h5["INSTRUMENT"].visititems(
                lambda name, obj: found.append(name) if name.endswith("image/data") else None
            )
            for name in found:
                m = int(re.search(r"/(\d+)CH0", name).group(1))
                group = h5["INSTRUMENT"][name.rpartition("/")[0]]
                tid, pid = group["trainId"][()].ravel(), group["pulseId"][()].ravel()
                data = group["data"]
                for k, (t, p) in enumerate(zip(train_ids, pulse_ids)):
                    row = int(np.flatnonzero((tid == t) & (pid == p))[0])
                    if data.ndim == 4:  # raw: (frames, data / gain, 512, 128)
                        data[row, 0] = modules[k, m]
                        data[row, 1] = 0 if gain is None else gain
                    else:
                        data[row] = modules[k, m]


def spread(coarse, factor, mask):
    """Binned photon counts spread evenly over the full pixels (0 outside ``mask``)."""
    full = np.repeat(np.repeat(coarse, factor, axis=1), factor, axis=2) / factor**2
    full = full[:, : mask.shape[0], : mask.shape[1]].astype(np.float32)
    full[:, ~mask] = 0
    return full
