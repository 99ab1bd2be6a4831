"""File formats: h5py and numpy, no physics.

- :class:`FrameReader`, :func:`read_frames`: HDF5 / CXI frames in, chunk by chunk.
- :class:`CXIWriter`, :func:`write_cxi`: CXI files out, atomically.
- :class:`ResultsWriter`, :func:`write_results`: classification results out, atomically.
- :func:`read_mask`: real detector masks (Dragonfly ``.byt``, HDF5, numpy) as True = good.
- :func:`read_cbf`: CBF frames (Pilatus / Eiger / Rayonix exports).
- :class:`EuXFELRun`, :func:`open_frames`: European XFEL runs (AGIPD 1M by train and pulse)
  and the frame-source interface (:mod:`skspeckle.io.sources`) that predict_file reads.
- :func:`keep_frames`: the kept frames (CXI) and a keep/drop list of a classified run.
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CXIWriter": "skspeckle.io.cxi",
        "EuXFELRun": "skspeckle.io.euxfel",
        "keep_frames": "skspeckle.io.keep",
        "open_frames": "skspeckle.io.sources",
        "FrameReader": "skspeckle.io.cxi",
        "read_cbf": "skspeckle.io.cbf",
        "read_frames": "skspeckle.io.cxi",
        "read_mask": "skspeckle.io.masks",
        "ResultsWriter": "skspeckle.io.results",
        "write_cxi": "skspeckle.io.cxi",
        "write_results": "skspeckle.io.results",
    },
)
