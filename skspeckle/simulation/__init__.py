"""The physics of the simulator: numpy, scipy and gemmi, no torch.

- :mod:`~skspeckle.simulation.structures`: PDB / mmCIF particles (:class:`Structure`) and a
  homogeneous icosahedron of a virus's size (:func:`icosahedral_particle`).
- :mod:`~skspeckle.simulation.amplitude`: the 3-D Fourier amplitude of a particle
  (:class:`FourierAmplitude`), cached on disk.
- :mod:`~skspeckle.simulation.nonsample`: scattering of droplets and clusters (non-sample hits).
- :mod:`~skspeckle.simulation.spi`: :func:`make_speckle_patterns`, labelled SPI patterns.
- :mod:`~skspeckle.simulation.sfx`: :func:`make_sfx_frames`, synthetic SFX frames.
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CLASSES": "skspeckle.simulation.spi",
        "default_cache_dir": "skspeckle.simulation.amplitude",
        "FourierAmplitude": "skspeckle.simulation.amplitude",
        "icosahedral_particle": "skspeckle.simulation.structures",
        "list_structures": "skspeckle.simulation.structures",
        "load_structure": "skspeckle.simulation.structures",
        "make_sfx_frames": "skspeckle.simulation.sfx",
        "make_speckle_patterns": "skspeckle.simulation.spi",
        "SFX_CLASSES": "skspeckle.simulation.sfx",
        "SFX_DATASETS": "skspeckle.simulation.sfx",
        "Structure": "skspeckle.simulation.structures",
    },
)
