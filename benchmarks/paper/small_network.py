"""Small network: the FPGA-class SpeckleNN beside the full network, Table I and offline 5-shot.

``TripletEmbedder(network="speckle_nn_small", n_components=50)`` (69 K parameters at 48 x 48, the
class of Dave et al. 2025: 64.6 K parameters, 50-d, 90 % accuracy) against the default
``network="speckle_nn"`` (2.8 M parameters, 128-d), trained and scored the same way:

- ``online``: SpeckleNN Table I as in ``online_table1.py`` (3jb9, three classes, 60 labelled
  patterns per class, rotation augmentation, 5-shot, single hit vs rest accuracy and F1 and the
  3-way accuracy, 95 % bootstrap intervals over the test patterns) at 100 % and 25 % detector
  area, at the simulation photon level (1e12 photons per pulse);
- ``offline``: the 2-way (single / multi hit) 5-shot accuracy on never-seen particles at the
  baseline fluence, as in ``offline.py`` but on the 7 bundled structures (``offline.py`` at
  full scale simulates 52 PDB entries): per seed a new split by particle, 5 for training
  (``groups`` = particle) and 2 unseen, whose supports are drawn from 30 labelled patterns per
  class; means over the (split, unseen particle) pairs with 95 % bootstrap intervals over them.

The paper values: SpeckleNN Table I 0.98 / 0.94 (100 % / 25 %); the FPGA network 0.90. Scale
``full`` here is what a loaded 2-core CPU allows (the docstring of ``main`` and the JSON file
give the sizes), smaller than that of ``online_table1.py`` and ``offline.py``; ``--part``
runs one scenario, so that two processes can share the cores.

Usage::

    .venv/bin/python benchmarks/paper/small_network.py --scale full --threads 1
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline

from skspeckle.augmentation import RandomRotation
from skspeckle.datasets import load_structure, make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.nn.networks.layers import n_parameters
from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios
from paper.offline import CLASSES, POOL, binary_scores, particles

NAME = "small_network"
NETWORKS = {"speckle_nn": 128, "speckle_nn_small": 50}  # network -> n_components
AREAS = (1.0, 0.25)


def online(args, quick, seeds, started):
    """Table I rows: one per (network, area), predictions pooled over seeds and draws."""
    n_test = 15 if quick else 100  # per class
    max_epochs = 2 if quick else 60
    X_lab, y_lab, X_test, y_test, _ = _scenarios.online_data(
        n_test, _scenarios.BASE_PHOTONS, args.seed
    )
    rows = []
    for area in AREAS:
        for network, n_components in NETWORKS.items():
            preds, fits = [], []
            for seed in seeds:
                t0 = time.perf_counter()
                embed = make_pipeline(
                    DetectorMask(area),
                    _scenarios.speckle_embedder(
                        max_epochs, args.device, seed, network=network, n_components=n_components
                    ),
                ).fit(X_lab, y_lab)
                preds.extend(
                    _scenarios.few_shot_predictions(
                        embed.transform(X_lab), y_lab, embed.transform(X_test)
                    )
                )
                fits.append({"epochs": embed[-1].n_iter_, "seconds": time.perf_counter() - t0})
            s = _scenarios.scores(y_test, np.array(preds), seed=args.seed)
            rows.append(
                {
                    "scenario": "online",
                    "network": network,
                    "n_components": n_components,
                    "n_parameters": n_parameters(embed[-1].module_),
                    "detector_area": area,
                    "fits": fits,
                    **s,
                }
            )
            print(
                f"[{time.perf_counter() - started:6.0f} s] online {area:4.0%} {network:17s} "
                f"acc {s['accuracy']:.3f} [{s['accuracy_ci95'][0]:.3f}, "
                f"{s['accuracy_ci95'][1]:.3f}]  3-way {s['accuracy_nway']:.3f}",
                flush=True,
            )
    return rows, {"n_test_per_class": n_test, "max_epochs": max_epochs}


def offline(args, quick, seeds, started):
    """Offline 2-way 5-shot rows: one per network, accuracy per (split, unseen particle).

    The bundled structures, split by particle once per seed (``GroupShuffleSplit``, two
    unseen particles each time), so the unseen particles change with the seed.
    """
    n_train = 15 if quick else 40  # patterns per class per training particle
    n_query = 10 if quick else 40  # query patterns per class per unseen particle
    max_epochs = 2 if quick else 30
    sources = np.array([p[0] for p in particles("quick")], dtype=object)
    X_all, y_all, g_all = make_speckle_patterns(
        list(sources), n_per_class=n_train, classes=CLASSES, random_state=args.seed
    )
    Xt_all, yt_all, gt_all = make_speckle_patterns(
        list(sources), n_per_class=POOL + n_query, classes=CLASSES, random_state=args.seed + 1
    )
    ids = np.array([load_structure(s).id for s in sources])
    rows, splits_used = [], []
    per_particle = {network: {} for network in NETWORKS}
    fits = {network: [] for network in NETWORKS}
    n_params = {}
    for seed in seeds:
        split = GroupShuffleSplit(n_splits=1, test_size=2, random_state=seed)
        train_i, test_i = next(split.split(ids, groups=ids))
        splits_used.append({"seed": seed, "unseen": list(ids[test_i])})
        train = np.isin(g_all, ids[train_i])
        X, y, groups = X_all[train], y_all[train], g_all[train]
        queries = {}
        for g in ids[test_i]:
            sel = np.flatnonzero(gt_all == g)
            rng = np.random.default_rng(args.seed + 1)
            pool = np.concatenate(
                [rng.choice(sel[yt_all[sel] == c], POOL, replace=False) for c in CLASSES]
            )
            queries[g] = pool, np.setdiff1d(sel, pool)
        for network, n_components in NETWORKS.items():
            t0 = time.perf_counter()
            embedder = TripletEmbedder(
                n_components,
                network=network,
                augment=RandomRotation(),
                max_epochs=max_epochs,
                n_iter_no_change=10,
                device=args.device,
                random_state=seed,
            ).fit(X, y, groups=groups)
            fits[network].append({"epochs": embedder.n_iter_, "seconds": time.perf_counter() - t0})
            n_params[network] = n_parameters(embedder.module_)
            Z = embedder.transform(Xt_all)
            for g, (pool, query) in queries.items():
                preds = _scenarios.few_shot_predictions(Z[pool], yt_all[pool], Z[query], k=5)
                per_particle[network][f"{seed}:{g}"] = np.mean(
                    [binary_scores(yt_all[query], p) for p in preds], axis=0
                )
            print(
                f"[{time.perf_counter() - started:6.0f} s] offline seed {seed} {network}: "
                f"{embedder.n_iter_} epochs",
                flush=True,
            )
    for network, n_components in NETWORKS.items():
        vals = np.array(list(per_particle[network].values()))  # (splits x particles, 2)
        lo, hi = _common.bootstrap_interval(
            lambda idx: vals[idx].mean(axis=0), len(vals), seed=args.seed
        )
        rows.append(
            {
                "scenario": "offline",
                "network": network,
                "n_components": n_components,
                "n_parameters": n_params[network],
                "k": 5,
                "n_evaluations": len(vals),
                "fits": fits[network],
                "per_particle": {
                    k: {"accuracy": v[0], "f1": v[1]} for k, v in per_particle[network].items()
                },
                "accuracy": vals[:, 0].mean(),
                "accuracy_ci95": [lo[0], hi[0]],
                "f1": vals[:, 1].mean(),
                "f1_ci95": [lo[1], hi[1]],
            }
        )
        print(
            f"[{time.perf_counter() - started:6.0f} s] offline 5-shot {network:17s} "
            f"acc {vals[:, 0].mean():.3f} [{lo[0]:.3f}, {hi[0]:.3f}] over {len(vals)} "
            "(split, unseen particle) pairs",
            flush=True,
        )
    sizes = {
        "n_train_per_class_per_particle": n_train,
        "n_query_per_class": n_query,
        "pool_per_class": POOL,
        "max_epochs": max_epochs,
        "particles": list(ids),
        "splits": splits_used,
    }
    return rows, sizes


def main(argv=None):
    """Quick: 1 seed, 15 test patterns per class, 2 epochs. Full: 3 seeds; online 100 test
    patterns per class (300 in all), at most 60 epochs; offline 40 patterns per class of each
    training particle, at most 30 epochs. Offline uses the 7 bundled structures at both
    scales (5 for training, 2 unseen, a new split per seed)."""
    args = _common.parse_args(
        NAME,
        __doc__.splitlines()[0],
        argv,
        extra=lambda p: p.add_argument(
            "--part",
            choices=("online", "offline"),
            default=None,
            help="run one scenario only, into small_network_<part>.json (two processes can "
            "then share the cores); default both",
        ),
    )
    name = NAME if args.part is None else f"{NAME}_{args.part}"
    started = time.perf_counter()
    quick = args.scale == "quick"
    seeds = [args.seed + i for i in range(1 if quick else 3)]
    rows, sizes = [], {}
    for part, run in (("online", online), ("offline", offline)):
        if args.part in (None, part):
            part_rows, sizes[part] = run(args, quick, seeds, started)
            rows += part_rows

    fig, ax = _common.figure(figsize=(6.5, 3.6))
    labels = []
    for i, r in enumerate(rows):
        lo, hi = r["accuracy_ci95"]
        ax.errorbar(
            i,
            r["accuracy"],
            yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]],
            fmt="o",
            color="tab:blue" if r["network"] == "speckle_nn" else "tab:orange",
        )
        where = f"{r['detector_area']:.0%}" if r["scenario"] == "online" else "5-shot"
        labels.append(f"{r['scenario']} {where}\n{r['network']}")
    ax.axhline(0.9, color="k", ls="--", lw=1, label="goal 0.90")
    ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30)
    ax.set_ylabel("accuracy (single hit vs rest), 95 %")
    ax.set_title("Full and small SpeckleNN networks")
    ax.legend(fontsize=7)
    _common.save_figure(fig, name, args)
    return _common.write_result(name, args, {"train_seeds": seeds, **sizes, "rows": rows}, started)


if __name__ == "__main__":
    main()
