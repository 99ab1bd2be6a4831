"""Simulated and bundled data: structures, detector geometry and the speckle-pattern simulator.

- :func:`load_structure`, :func:`list_structures`, :class:`Structure`: PDB / mmCIF particles
  (a few Protein Data Bank entries of 1e4-1e5 atoms are bundled).
- :class:`Detector`: pixel geometry, momentum transfer, solid angle, polarisation, masks.
- :class:`FourierAmplitude`: the 3-D Fourier amplitude of a particle, cached on disk.
- :func:`make_speckle_patterns`: labelled single-, multi-, non-sample- and no-hit patterns.
- :class:`FrameReader`, :func:`read_frames`, :class:`CXIWriter`, :func:`write_cxi`,
  :class:`ResultsWriter`, :func:`write_results`: HDF5 / CXI frames in and results out, chunked
  and atomic.
- :func:`read_mask`: real detector masks (Dragonfly ``.byt``, HDF5, numpy) as True = good.
- :func:`load_pr772_frames`: ten real PR772 frames of the LCLS back pnCCD (ADU) and their mask;
  :meth:`Detector.pnccd_back` simulates that geometry.
- :func:`make_sfx_frames`: synthetic serial-crystallography frames (hit / maybe / miss) for the
  SFX hit-finding baselines; :func:`read_cbf` reads real CBF frames.
"""

from .amplitude import FourierAmplitude, default_cache_dir
from .cbf import read_cbf
from .cxi import CXIWriter, FrameReader, ResultsWriter, read_frames, write_cxi, write_results
from .detector import PNCCD_BACK_DISTANCE, Detector, wavelength
from .masks import read_mask
from .real import PR772_ADU_PER_PHOTON, PR772_READ_NOISE_ADU, load_pr772_frames
from .sfx import SFX_CLASSES, SFX_DATASETS, make_sfx_frames
from .simulator import CLASSES, make_speckle_patterns
from .structures import Structure, list_structures, load_structure

__all__ = [
    "CLASSES",
    "CXIWriter",
    "FrameReader",
    "PNCCD_BACK_DISTANCE",
    "PR772_ADU_PER_PHOTON",
    "PR772_READ_NOISE_ADU",
    "ResultsWriter",
    "SFX_CLASSES",
    "SFX_DATASETS",
    "Detector",
    "FourierAmplitude",
    "Structure",
    "default_cache_dir",
    "list_structures",
    "load_pr772_frames",
    "load_structure",
    "make_sfx_frames",
    "make_speckle_patterns",
    "read_cbf",
    "read_frames",
    "read_mask",
    "wavelength",
    "write_cxi",
    "write_results",
]
