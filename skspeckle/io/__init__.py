"""File formats: h5py and numpy, no physics.

- :class:`FrameReader`, :func:`read_frames`: HDF5 / CXI frames in, chunk by chunk.
- :class:`CXIWriter`, :func:`write_cxi`: CXI files out, atomically.
- :class:`ResultsWriter`, :func:`write_results`: classification results out, atomically.
- :func:`read_mask`: real detector masks (Dragonfly ``.byt``, HDF5, numpy) as True = good.
- :func:`read_cbf`: CBF frames (Pilatus / Eiger / Rayonix exports).
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CXIWriter": "skspeckle.io.cxi",
        "FrameReader": "skspeckle.io.cxi",
        "read_cbf": "skspeckle.io.cbf",
        "read_frames": "skspeckle.io.cxi",
        "read_mask": "skspeckle.io.masks",
        "ResultsWriter": "skspeckle.io.results",
        "write_cxi": "skspeckle.io.cxi",
        "write_results": "skspeckle.io.results",
    },
)
