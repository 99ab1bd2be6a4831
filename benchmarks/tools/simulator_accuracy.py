"""The simulator's intensities against a direct atom sum, before and after the corrections.

Reference: ``F(q) = sum_j f_j(|q|) exp(-B_j |q|^2 / 4) exp(-2 pi i q . R r_j)`` with gemmi's
IT92 form factors, on 600 random pixels of the detector, 3 random orientations, B = 0.
Variants of :class:`skspeckle.simulation.FourierAmplitude`: the old behaviour (every atom
with gemmi.Atom()'s default B = 20 Å^2, no interpolation correction), B = 0 without the
correction at 4x, 6x and 8x oversampling (the memory of the refined grid grows as its cube),
and the adopted one (B = 0, density pre-divided by the trilinear kernel's transform, 4x).
Printed: ratio of total intensities, the smallest and largest ratio over 8 q shells of equal
pixel count, the 5th / 95th percentiles of the pixel ratio, the relative L2 error, the time
to build the amplitude and to slice 60 patterns, and the refined grid's size.

Usage::

    .venv/bin/python benchmarks/tools/simulator_accuracy.py [--structure 1n7g] [--full]
"""

import argparse
import os
import time

import gemmi
import numpy as np
from scipy.spatial.transform import Rotation

from skspeckle.datasets import load_structure
from skspeckle.detector import Detector
from skspeckle.simulation import Structure
from skspeckle.simulation import amplitude as amplitude_module


def atom_sum(structure, q, rotation):
    stol2 = np.einsum("pi,pi->p", q, q) / 4
    pos = structure.positions @ rotation.T
    f = np.zeros(len(q), dtype=complex)
    for z in np.unique(structure.atomic_numbers):
        sel = structure.atomic_numbers == z
        it92 = gemmi.Element(int(z)).it92
        form = np.array([it92.calculate_sf(float(s)) for s in stol2])
        f += form * np.exp(-2j * np.pi * pos[sel] @ q.T).sum(axis=0)
    return f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structure", default="1n7g")
    parser.add_argument("--full", action="store_true", help="172 x 172 detector, not the crop")
    args = parser.parse_args(argv)
    s = load_structure(args.structure)
    det = Detector.speckle_nn() if args.full else Detector.speckle_nn().crop(96)
    q_all = det.q_vectors(1.66)[det.mask]
    q_max = np.linalg.norm(q_all, axis=1).max()
    pix = np.random.default_rng(0).choice(len(q_all), 600, replace=False)
    q = q_all[pix]
    rotations = Rotation.random(3, rng=1).as_matrix()
    ref = np.array([np.abs(atom_sum(s, q, r)) ** 2 for r in rotations])
    edges = np.quantile(np.linalg.norm(q, axis=1), np.linspace(0, 1, 9)[1:-1])
    shell = np.digitize(np.linalg.norm(q, axis=1), edges)
    b20 = Structure(s.id, s.positions, s.atomic_numbers, b_factors=np.full(s.n_atoms, 20.0))
    corrected = amplitude_module._trilinear_correction
    variants = [
        ("before: B = 20 Å^2, trilinear, 4x", b20, 4.0, False),
        ("B = 0, trilinear, 4x", s, 4.0, False),
        ("B = 0, trilinear, 6x", s, 6.0, False),
        ("B = 0, trilinear, 8x", s, 8.0, False),
        ("adopted: B = 0, kernel-corrected, 4x", s, 4.0, True),
    ]
    print(
        f"{args.structure}, {'172 x 172' if args.full else '96 x 96 crop'}, |q| <= "
        f"{q_max:.4f} Å^-1, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| variant | total | shells min / max | pixels p5 / p95 | rel. L2 | build s | "
        "60 slices s | refined grid MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, structure, oversampling, correct in variants:
        amplitude_module._trilinear_correction = (
            corrected if correct else (lambda n: np.ones(n, dtype=np.float32))
        )
        t = time.perf_counter()
        amp = amplitude_module.FourierAmplitude.from_structure(
            structure, q_max, oversampling=oversampling, cache_dir=False
        )
        build = time.perf_counter() - t
        sim = np.abs(amp.slices(q, rotations)) ** 2
        t = time.perf_counter()
        amp.slices(q_all, np.repeat(rotations, 20, axis=0))
        slicing = time.perf_counter() - t
        ratio = np.bincount(shell, sim.sum(0)) / np.bincount(shell, ref.sum(0))
        pixel = (sim / ref).ravel()
        print(
            f"| {name} | {sim.sum() / ref.sum():.4f} | {ratio.min():.4f} / {ratio.max():.4f} | "
            f"{np.percentile(pixel, 5):.4f} / {np.percentile(pixel, 95):.4f} | "
            f"{np.linalg.norm(sim - ref) / np.linalg.norm(ref):.4f} | {build:.2f} | "
            f"{slicing:.2f} | {amp._fine.nbytes / 1e6:.0f} |"
        )
    amplitude_module._trilinear_correction = corrected


if __name__ == "__main__":
    main()
