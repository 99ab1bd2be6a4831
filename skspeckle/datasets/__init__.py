"""Data sets in scikit-learn's sense: simulated (``make_*``) and bundled (``load_*``).

- :func:`make_speckle_patterns`: labelled single-, multi-, non-sample- and no-hit speckle
  patterns simulated from PDB structures (:mod:`skspeckle.simulation.spi`).
- :func:`make_sfx_frames`: synthetic serial-crystallography frames (hit / maybe / miss) for the
  SFX hit-finding baselines (:mod:`skspeckle.simulation.sfx`).
- :func:`load_structure`, :func:`list_structures`: the bundled Protein Data Bank entries
  (1e4-1e5 atoms).
- :func:`load_pr772_frames`: ten real PR772 frames of the LCLS back pnCCD (ADU) and their mask;
  :meth:`skspeckle.detector.Detector.pnccd_back` simulates that geometry.

File formats live in :mod:`skspeckle.io`, the physics in :mod:`skspeckle.simulation`.
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CLASSES": "skspeckle.simulation.spi",
        "list_structures": "skspeckle.simulation.structures",
        "load_pr772_frames": "skspeckle.datasets._pr772",
        "load_structure": "skspeckle.simulation.structures",
        "make_sfx_frames": "skspeckle.simulation.sfx",
        "make_speckle_patterns": "skspeckle.simulation.spi",
        "PR772_ADU_PER_PHOTON": "skspeckle.datasets._pr772",
        "PR772_READ_NOISE_ADU": "skspeckle.datasets._pr772",
        "SFX_CLASSES": "skspeckle.simulation.sfx",
        "SFX_DATASETS": "skspeckle.simulation.sfx",
    },
)
