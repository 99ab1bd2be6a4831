"""Macromolecular structures (PDB / mmCIF) as the input of the speckle-pattern simulator.

A structure is reduced to what X-ray scattering at low resolution needs: the positions of its
atoms and their atomic numbers. Files are read with gemmi; the package bundles a few Protein
Data Bank entries of 1e4-1e5 atoms (the size range of the SpeckleNN paper, Sec. IV.A.1).
"""

import csv
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import gemmi
import numpy as np

__all__ = ["Structure", "icosahedral_particle", "load_structure", "list_structures"]

# The bundled entries are package data of skspeckle.datasets (datasets/data/MANIFEST.tsv).
_DATA_DIR = Path(__file__).parents[1] / "datasets" / "data"
_MANIFEST = _DATA_DIR / "MANIFEST.tsv"
_PHI = (1 + 5**0.5) / 2
#: Mean electron density of protein, e/Å^3 (1.35 g/cm^3 at 0.54 electrons per dalton).
PROTEIN_ELECTRON_DENSITY = 0.43


@dataclass(frozen=True, eq=False)
class Structure:
    """Atoms of one particle, centred on their electron-weighted centre.

    Build it with :func:`load_structure`, or directly from arrays (e.g. a coarse-grained or
    synthetic model).

    Parameters
    ----------
    id : str
        Identifier, used as the group label of the simulated patterns (e.g. ``"1bxn"``).
    positions : array-like of shape (n_atoms, 3)
        Atom positions in Å. They are shifted so that the electron-weighted centre (weights:
        atomic numbers) is at the origin.
    atomic_numbers : array-like of int of shape (n_atoms,)
        Atomic number Z of each atom (1..118).
    title : str, default=""
        Free-text description (the entry's title for PDB files).
    source : str, default=""
        Where the atoms came from (a file path).
    b_factors : array-like of float of shape (n_atoms,) or None, default=None
        Isotropic atomic displacement (Debye-Waller) parameters B in Å^2: atom j scatters
        ``f_j(q) exp(-B_j |q|^2 / 4)`` (|q| = 2 sin(theta) / lambda in Å^-1; International
        Tables for Crystallography Vol. C, Sec. 6.1.1.3, the convention of gemmi and of PDB
        files). None means 0 for every atom: a static molecule.

    Attributes
    ----------
    n_atoms : int
    elements : ndarray of str of shape (n_atoms,)
        Element symbols.
    b_factors : ndarray of float64 of shape (n_atoms,)
        B in Å^2 (zeros unless given).
    n_electrons : int
        Sum of Z: the forward-scattering amplitude ``|F(0)|`` in electrons.
    radius_of_gyration : float
        Electron-weighted radius of gyration in Å, ``sqrt(sum Z_i |r_i|^2 / sum Z_i)``. This is
        the radius that the Guinier law ``I(q) = I(0) exp(-(2 pi q Rg)^2 / 3)`` measures
        (q = 2 sin(theta) / lambda in Å^-1; Guinier & Fournet, Small-Angle Scattering of
        X-rays, 1955).
    max_radius : float
        Largest distance of an atom from the centre, in Å (half the bounding-sphere diameter).

    Raises
    ------
    ValueError
        If the arrays have inconsistent or invalid shapes or values.
    """

    id: str
    positions: np.ndarray
    atomic_numbers: np.ndarray
    title: str = ""
    source: str = ""
    b_factors: np.ndarray = None

    def __post_init__(self):
        pos = np.asarray(self.positions, dtype=np.float64)
        z = np.asarray(self.atomic_numbers)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
            raise ValueError(
                f"positions must have shape (n_atoms, 3) with n_atoms >= 1, got {pos.shape}."
            )
        if z.shape != (len(pos),) or not np.issubdtype(z.dtype, np.integer):
            raise ValueError(
                f"atomic_numbers must be integers of shape ({len(pos)},), got "
                f"{z.dtype} of shape {z.shape}."
            )
        if z.min() < 1 or z.max() > 118:
            raise ValueError("atomic_numbers must lie in 1..118 (unknown elements removed).")
        if not np.isfinite(pos).all():
            raise ValueError("positions contain NaN or infinite coordinates.")
        if self.b_factors is None:
            b = np.zeros(len(pos))
        else:
            b = np.asarray(self.b_factors, dtype=np.float64)
            if b.shape != (len(pos),) or not np.isfinite(b).all() or b.min() < 0:
                raise ValueError(
                    f"b_factors must be finite B values >= 0 (Å^2) of shape ({len(pos)},), "
                    f"got shape {b.shape}; pass None for B = 0 (a static molecule)."
                )
        z = z.astype(np.int64)
        pos = pos - np.average(pos, axis=0, weights=z)
        for a in (pos, z, b):
            a.flags.writeable = False
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "atomic_numbers", z)
        object.__setattr__(self, "b_factors", b)

    @property
    def n_atoms(self):
        return len(self.positions)

    @property
    def elements(self):
        return np.array([gemmi.Element(int(z)).name for z in self.atomic_numbers])

    @property
    def n_electrons(self):
        return int(self.atomic_numbers.sum())

    @cached_property
    def radius_of_gyration(self):
        r2 = np.einsum("ij,ij->i", self.positions, self.positions)
        return float(np.sqrt(np.average(r2, weights=self.atomic_numbers)))

    @cached_property
    def max_radius(self):
        return float(np.sqrt(np.einsum("ij,ij->i", self.positions, self.positions).max()))

    def __repr__(self):
        return (
            f"Structure(id={self.id!r}, n_atoms={self.n_atoms}, "
            f"radius_of_gyration={self.radius_of_gyration:.1f} Å)"
        )


def _bundled_files():
    # Bundled files are named <id>.pdb.gz or <id>.cif.gz.
    return {p.name.split(".")[0].lower(): p for p in _DATA_DIR.glob("*.gz")}


def load_structure(path_or_id, *, b_factors=False):
    """Read a structure from a PDB or mmCIF file, or a bundled entry by its id.

    The file is read with gemmi (plain or gzip-compressed). What is kept is the particle
    that would fly through the X-ray beam, as deposited:

    - model 1 only (NMR and multi-model files carry alternative models, not copies);
    - waters removed (crystal or modelled solvent; the particle is in vacuum in SPI);
    - hydrogens (and deuteriums) removed, since most entries have none and including them
      for some would make structures inconsistent; their 1 electron each is < 1 % of ``|F|``;
    - the first alternative conformation of each atom kept; occupancies ignored (one copy
      of the molecule);
    - B-factors set to 0 (a static molecule: the simulated F(q) is then the Fourier
      transform of the atoms' IT92 form factors at the deposited positions), unless
      ``b_factors=True`` keeps the deposited isotropic B (Å^2; for anisotropic atoms the
      file's B_iso), which damps atom j's amplitude by ``exp(-B_j |q|^2 / 4)``. The
      deposited values describe disorder in the crystal, not the motion of a molecule in
      vacuum, so they are an option, not the default;
    - atoms of unknown element dropped;
    - ligands, ions and nucleic acids kept.

    Biological assemblies are not generated: the deposited model 1 is the particle.

    Parameters
    ----------
    path_or_id : str or os.PathLike or Structure
        A bundled id (see :func:`list_structures`, case-insensitive), or the path of a
        ``.pdb``, ``.ent``, ``.cif`` or ``.mmcif`` file, optionally ``.gz``-compressed. A
        :class:`Structure` is returned unchanged.
    b_factors : bool, default=False
        Keep the deposited isotropic B-factors (see above); False sets B = 0.

    Returns
    -------
    structure : Structure
        Atoms centred on their electron-weighted centre. ``id`` is the bundled id, or the file
        name up to its first dot.

    Raises
    ------
    FileNotFoundError
        If the argument is neither a bundled id nor an existing file.
    ValueError
        If the file holds no atoms after the clean-up above, or (with ``b_factors=True``)
        negative B-factors.
    """
    if isinstance(path_or_id, Structure):
        return path_or_id
    bundled = _bundled_files()
    key = str(path_or_id).lower()
    if isinstance(path_or_id, str) and key in bundled:
        path, sid = bundled[key], key
    else:
        path = Path(os.fspath(path_or_id))
        if not path.is_file():
            raise FileNotFoundError(
                f"{path_or_id!r} is neither a bundled structure id nor an existing file. "
                f"Bundled ids: {', '.join(sorted(bundled))}; or pass the path of a PDB/mmCIF "
                "file."
            )
        sid = path.name.split(".")[0]
    st = gemmi.read_structure(str(path))
    title = st.info["_struct.title"] if "_struct.title" in st.info else ""
    while len(st) > 1:
        del st[len(st) - 1]
    st.remove_alternative_conformations()
    st.remove_hydrogens()
    st.remove_waters()
    atoms = [a for chain in st[0] for res in chain for a in res if a.element.atomic_number > 0]
    if not atoms:
        raise ValueError(f"{path} has no atoms left after removing waters and hydrogens.")
    positions = np.array([a.pos.tolist() for a in atoms])
    z = np.array([a.element.atomic_number for a in atoms], dtype=np.int64)
    b = np.array([a.b_iso for a in atoms]) if b_factors else None
    return Structure(sid, positions, z, title=title.strip(" '\""), source=str(path), b_factors=b)


def _icosahedron_face_normals():
    """Unit normals of the 20 faces of the icosahedron with vertices (+-phi, +-1, 0) and cyclic
    permutations: the vertices of its dual dodecahedron, up to sign (10 axes)."""
    normals = [(1.0, s2, s3) for s2 in (1, -1) for s3 in (1, -1)]
    for a in (1, -1):
        normals += [(0, a / _PHI, _PHI), (a / _PHI, _PHI, 0), (_PHI, 0, a / _PHI)]
    normals = np.array(normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def icosahedral_particle(
    diameter, *, electron_density=PROTEIN_ELECTRON_DENSITY, spacing=6.0, id="icosahedron"
):
    """A homogeneous solid icosahedron, the coarse shape of an icosahedral virus.

    Point scatterers on a cubic lattice of step ``spacing`` fill a regular icosahedron; each
    carries ``Z = round(electron_density * spacing**3)`` electrons, so that the particle has
    the given mean electron density. At the small angles of SPI (``|q|`` well below
    ``1 / spacing``) the lattice is invisible and only the shape and the electron count
    matter: an atom scatters as its Z electrons there, and the simulator's grid is coarser
    than the lattice (:meth:`FourierAmplitude.from_structure`), so the point scatterers act as
    a continuous density. The particle is sized by its radius of gyration, like the bundled
    structures: ``diameter`` is the equivalent-sphere diameter ``2 sqrt(5/3) Rg`` of
    :meth:`skspeckle.detector.Detector.pnccd_back` (met to within a lattice step, the
    lattice's surface being ragged). A solid icosahedron of edge a has
    ``Rg^2 = 3 phi^2 a^2 / 20`` (phi the golden ratio; from its moment of inertia
    ``phi^2 M a^2 / 10``), and a vertex-to-vertex diameter of ``phi^(1/2) 5^(1/4) a``, 1.17
    times ``diameter``. Bacteriophage PR772 (Reddy et al., Sci. Data 4, 170079, 2017), whose
    real frames are bundled (:func:`skspeckle.datasets.load_pr772_frames`), scatters like an
    equivalent sphere of 58 nm (:meth:`~skspeckle.detector.Detector.pnccd_back`): a 580 Å
    icosahedron here, 68 nm from vertex to vertex.

    Parameters
    ----------
    diameter : float
        Equivalent-sphere diameter ``2 sqrt(5/3) Rg`` in Å, larger than ``4 * spacing``.
    electron_density : float, default=0.43
        Mean electron density in e/Å^3 (protein: 0.43; water: 0.334).
    spacing : float, default=6.0
        Lattice step in Å. The number of points grows as ``(diameter / spacing)^3``
        (4.7e5 for 580 Å at 6 Å, some seconds to grid in the simulator); a coarser lattice
        needs heavier points, and ``Z`` must stay within 1..118.
    id : str, default="icosahedron"
        The structure's id (the group label of its simulated patterns).

    Returns
    -------
    structure : Structure
        Points of atomic number Z, centred, with the vertices along ``(+-phi, +-1, 0)`` and
        its cyclic permutations (orientation does not matter: the simulator rotates each
        pattern at random).

    Raises
    ------
    ValueError
        If a value is not a finite positive number, if ``diameter <= 4 * spacing``, or if
        ``electron_density * spacing**3`` rounds outside 1..118 (the message names the
        spacings that work).

    Examples
    --------
    >>> from skspeckle.simulation import icosahedral_particle
    >>> particle = icosahedral_particle(200.0)  # its lattice surface is ragged by a step
    >>> round(2 * (5 / 3) ** 0.5 * particle.radius_of_gyration), int(particle.atomic_numbers[0])
    (198, 93)
    """
    for name, value in (
        ("diameter", diameter),
        ("electron_density", electron_density),
        ("spacing", spacing),
    ):
        if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite positive number, got {value!r}.")
    if diameter <= 4 * spacing:
        raise ValueError(
            f"diameter ({diameter} Å) must exceed 4 lattice steps ({4 * spacing} Å): "
            "use a smaller spacing."
        )
    z = int(round(electron_density * spacing**3))
    if not 1 <= z <= 118:
        lo, hi = (0.5 / electron_density) ** (1 / 3), (118.4 / electron_density) ** (1 / 3)
        raise ValueError(
            f"electron_density * spacing**3 = {electron_density * spacing**3:.3g} electrons per "
            f"lattice point, outside the atomic numbers 1..118: use a spacing between "
            f"{lo:.2f} and {hi:.2f} Å for {electron_density} e/Å^3."
        )
    rg = np.sqrt(3 / 5) * diameter / 2
    edge = rg / (_PHI * np.sqrt(3 / 20))
    inradius = _PHI**2 / (2 * np.sqrt(3)) * edge
    circumradius = np.sqrt(_PHI * np.sqrt(5)) / 2 * edge
    axis = np.arange(-np.ceil(circumradius / spacing), np.ceil(circumradius / spacing) + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid *= spacing
    inside = (np.abs(grid @ _icosahedron_face_normals().T) <= inradius).all(axis=1)
    positions = grid[inside]
    return Structure(
        str(id),
        positions,
        np.full(len(positions), z, dtype=np.int64),
        title=f"homogeneous icosahedron, equivalent-sphere diameter {diameter:g} Å, "
        f"{z / spacing**3:.3g} e/Å^3",
        source="skspeckle.simulation.icosahedral_particle",
    )


def list_structures():
    """The structures bundled with the package.

    Returns
    -------
    entries : list of dict
        One dict per structure, sorted by id, with keys ``id`` (str, accepted by
        :func:`load_structure`), ``n_atoms`` (int, after the clean-up of
        :func:`load_structure`), ``n_electrons`` (int), ``radius_of_gyration`` (float, Å,
        electron-weighted), ``max_radius`` (float, Å), ``file`` (str, the bundled file name),
        ``method`` (str, experimental method of the entry), ``title`` (str) and ``source``
        (str, the PDB entry and where this copy was obtained).
    """
    with open(_MANIFEST, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        for key in ("n_atoms", "n_electrons"):
            row[key] = int(row[key])
        for key in ("radius_of_gyration", "max_radius"):
            row[key] = float(row[key])
    return sorted(rows, key=lambda r: r["id"])
