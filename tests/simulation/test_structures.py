import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from skspeckle.simulation import Structure, icosahedral_particle, list_structures, load_structure
from skspeckle.simulation import structures as structures_module

DATA = Path(structures_module.__file__).parents[1] / "datasets" / "data"


def test_bundled_list_matches_files_and_loader():
    entries = list_structures()
    assert 6 <= len(entries) <= 10
    assert {e["id"] for e in entries} == {p.name.split(".")[0] for p in DATA.glob("*.gz")}
    total_mb = sum(p.stat().st_size for p in DATA.glob("*.gz")) / 2**20
    assert total_mb < 6
    for e in entries:
        assert 1e4 <= e["n_atoms"] <= 1e5
        assert e["title"] and e["source"]
    small = min(entries, key=lambda e: e["n_atoms"])
    s = load_structure(small["id"])
    assert s.n_atoms == small["n_atoms"]
    assert s.n_electrons == small["n_electrons"]
    assert s.radius_of_gyration == pytest.approx(small["radius_of_gyration"], abs=0.01)


@pytest.mark.parametrize("name", ["1n7g.pdb.gz", "1igy.cif.gz"])
def test_gzip_pdb_and_mmcif_load_by_path(tmp_path, name):
    path = tmp_path / name.replace(name[:4], "mine")
    shutil.copy(DATA / name, path)
    s = load_structure(path)
    assert s.id == "mine"
    assert s.n_atoms == load_structure(name[:4]).n_atoms
    # The same file uncompressed gives the same atoms.
    plain = tmp_path / path.name.removesuffix(".gz")
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    np.testing.assert_array_equal(load_structure(str(plain)).positions, s.positions)


def test_cleanup_centering_and_rg(small_structure):
    s = small_structure
    assert s.positions.shape == (s.n_atoms, 3) and s.positions.dtype == np.float64
    assert not s.positions.flags.writeable
    assert set(s.elements) <= {"C", "N", "O", "P", "S"}  # no H, no waters' O counted as HOH
    centre = np.average(s.positions, axis=0, weights=s.atomic_numbers)
    np.testing.assert_allclose(centre, 0, atol=1e-9)
    rg = np.sqrt(np.average((s.positions**2).sum(1), weights=s.atomic_numbers))
    assert s.radius_of_gyration == pytest.approx(rg)
    assert s.max_radius >= s.radius_of_gyration
    # 1n7g's deposited file holds 475 waters; none survive.
    assert s.n_atoms == 10559


def test_structure_from_arrays_recentres_and_validates():
    s = Structure("two", [[0, 0, 0], [2, 0, 0]], np.array([6, 6]))
    np.testing.assert_allclose(s.positions[:, 0], [-1, 1])
    assert s.radius_of_gyration == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        Structure("bad", [[0, 0]], np.array([6]))
    with pytest.raises(ValueError, match="atomic_numbers"):
        Structure("bad", [[0, 0, 0]], np.array([0]))


def test_unknown_id_names_the_bundled_ones():
    with pytest.raises(FileNotFoundError, match="1n7g"):
        load_structure("9zzz")


def test_b_factors_are_zero_unless_the_deposited_ones_are_asked_for(small_structure):
    import gemmi

    np.testing.assert_array_equal(small_structure.b_factors, 0.0)
    deposited = load_structure("1n7g", b_factors=True)
    np.testing.assert_array_equal(deposited.positions, small_structure.positions)
    st = gemmi.read_structure(str(deposited.source))
    first = next(a for res in st[0][0] for a in res if a.element.atomic_number > 1)
    assert deposited.b_factors[0] == pytest.approx(first.b_iso)
    assert deposited.b_factors.min() >= 0 and deposited.b_factors.mean() > 5
    with pytest.raises(ValueError, match="b_factors"):
        Structure("bad", [[0, 0, 0]], np.array([6]), b_factors=[-1.0])


def test_icosahedral_particle_has_the_size_density_and_shape_asked_for():
    particle = icosahedral_particle(300.0, spacing=6.0)
    rg_diameter = 2 * np.sqrt(5 / 3) * particle.radius_of_gyration
    assert abs(rg_diameter - 300.0) < 6.0  # within a lattice step
    assert set(particle.atomic_numbers.tolist()) == {93}  # round(0.43 * 6^3)
    # Electron count: the density times the solid icosahedron's volume 5 phi^2 a^3 / 6.
    phi = (1 + 5**0.5) / 2
    edge = particle.radius_of_gyration / (phi * np.sqrt(3 / 20))
    volume = 5 * phi**2 * edge**3 / 6
    assert particle.n_electrons == pytest.approx(93 / 6.0**3 * volume, rel=0.03)
    # The vertices stick out 1.26 times farther than the face centres (the circumradius over
    # the inradius): an icosahedron, not a sphere.
    pos = particle.positions
    along_vertex = np.abs(pos @ (np.array([phi, 1, 0]) / np.hypot(phi, 1))).max()
    along_face = np.abs(pos @ (np.ones(3) / np.sqrt(3))).max()
    assert along_vertex / along_face == pytest.approx(1.258, rel=0.03)
    # A lattice point comes within about sqrt(3) steps of a sharp vertex.
    assert abs(particle.max_radius - np.sqrt(phi * np.sqrt(5)) / 2 * edge) < 2 * 6.0


def test_icosahedral_particle_names_the_spacings_that_work():
    with pytest.raises(ValueError, match=r"spacing between 1\.05 and 6\.51"):
        icosahedral_particle(580.0, spacing=10.0)
    with pytest.raises(ValueError, match="4 lattice steps"):
        icosahedral_particle(20.0, spacing=6.0)
    with pytest.raises(ValueError, match="diameter"):
        icosahedral_particle(-1.0)
