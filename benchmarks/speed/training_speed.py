"""Training speed: one epoch of triplet training, skspeckle against pytorch-metric-learning.

Every variant trains the same SpeckleNN network (same initial weights, fresh Adam, lr 1e-3)
for one epoch over the *same* class-balanced batches (``skspeckle.nn.sampling.balanced_batches``,
64 frames of 48 x 48 photons) with semi-hard triplets and margin 0.5. The skspeckle variants
(``train_module``, ``bare_torch``, ``TripletEmbedder.fit``) use the package's optimiser,
``skspeckle.nn.training.adam`` (torch's fused Adam); ``pml`` and ``python_loop`` use
``torch.optim.Adam`` with its defaults, as a hand-written script would:

``train_module``
    ``skspeckle.nn.training.train_module`` with ``TripletBatchLoss`` -- exactly the epoch
    ``TripletEmbedder.fit`` runs (without its validation pass).
``bare_torch``
    A bare PyTorch loop calling the same vectorised mining (``mine_triplets``), loss and
    optimiser: measures what the generic training loop adds.
``pml``
    pytorch-metric-learning: ``miners.TripletMarginMiner(margin, type_of_triplets="semihard")``
    and ``losses.TripletMarginLoss(margin)``, both with ``LpDistance(power=2)``, i.e. squared
    distances of L2-normalised embeddings as in our loss (pml's default is the non-squared
    distance, for which the same margin would mean something else), and a ``MeanReducer``
    (mean over the mined triplets, as ours; pml's default averages over the non-zero ones).
    pml's miner returns *every* semi-hard triplet of the batch (4 to 17 times as many as ours
    in our runs), whereas ours keeps one random semi-hard negative per (anchor, positive) pair
    (FaceNet).
``python_loop``
    A per-anchor Python mining loop in the style of the SpeckleNN reference code, for
    contrast: the same triplets rule as ours, decided pair by pair.
``TripletEmbedder.fit``
    The estimator itself for one epoch (``validation_fraction=0``): also validates the input,
    builds the module and draws its own batches of the same size.

The mining, loss and backward pass alone (no network, the first batch's embeddings) are timed
too, as ``mining_loss_backward_ms``; one optimiser step of each kind on the network's
gradients, as ``optimizer_step_ms``; and the estimator's fixed cost per ``fit`` (input
checks, split, module construction: ``fit`` with ``max_epochs=0``), as
``estimator_setup_seconds``, which the one-epoch comparison charges to the epoch.

Since the variants mine different numbers of triplets per batch, the comparison is made at
equal work on the network: patterns (frames) per second over identical batches; triplets per
second are reported too, each with its own triplet count. Variants run interleaved over
``repeats`` rounds; ratios are per-round medians relative to pml (target: >= 1.0).

Usage::

    .venv/bin/python benchmarks/speed/training_speed.py --scale full [--device cpu]
"""

import copy
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.nn.device import resolve_device
from skspeckle.nn.distances import pairwise_squared_distances
from skspeckle.nn.losses import TripletBatchLoss, triplet_loss
from skspeckle.nn.mining import (
    mine_triplets,
)
from skspeckle.nn.networks.layers import EmbeddingModel
from skspeckle.nn.networks.speckle_net import speckle_net
from skspeckle.nn.sampling import balanced_batches
from skspeckle.nn.training import adam, train_module

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "training_speed"
MARGIN = 0.5
BATCH = 64
LR = 1e-3


def python_loop_triplets(distances, labels, margin, rng):
    """Semi-hard triplets picked anchor by anchor in Python (the reference-code style)."""
    d = distances.cpu().numpy()
    lab = labels.cpu().numpy()
    triplets = []
    for a in range(len(lab)):
        negatives = np.flatnonzero(lab != lab[a])
        if len(negatives) == 0:
            continue
        for p in np.flatnonzero(lab == lab[a]):
            if p == a:
                continue
            d_an = d[a, negatives]
            semihard = negatives[(d_an > d[a, p]) & (d_an < d[a, p] + margin)]
            if len(semihard):
                n = rng.choice(semihard)
            else:  # the same fallbacks as skspeckle's mining
                farther = d_an > d[a, p]
                n = (
                    negatives[farther][np.argmin(d_an[farther])]
                    if farther.any()
                    else negatives[np.argmax(d_an)]
                )
            triplets.append((a, p, n))
    idx = torch.as_tensor(
        np.array(triplets, dtype=np.int64).reshape(-1, 3), device=distances.device
    )
    return idx[:, 0], idx[:, 1], idx[:, 2]


def main(argv=None):
    args = _common.parse_args(
        NAME,
        __doc__.splitlines()[0],
        argv,
        extra=lambda p: p.add_argument(
            "--repeats", type=int, default=None, help="interleaved rounds (default by scale)"
        ),
    )
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_per_class = 21 if quick else 427  # 1 / 20 batches of 64
    repeats = args.repeats or (2 if quick else 15)
    device = resolve_device(args.device)
    from pytorch_metric_learning import distances, losses, miners, reducers

    X, y, _ = make_speckle_patterns(["3jb9"], n_per_class=n_per_class, random_state=args.seed)
    y_enc = torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64))
    x_all = torch.from_numpy(X)
    batches = balanced_batches(
        y_enc, batch_size=BATCH, generator=torch.Generator().manual_seed(args.seed)
    )
    n_frames = sum(len(b) for b in batches)
    with torch.random.fork_rng():
        torch.manual_seed(args.seed)
        initial = EmbeddingModel(speckle_net(X.shape[1:], 128))
    x_dev, y_dev = x_all.to(device), y_enc.to(device)  # all variants read from device tensors
    counts = {}

    def torch_adam(params):
        return torch.optim.Adam(params, lr=LR)

    def fresh_module():
        return copy.deepcopy(initial).to(device).train()

    def fresh(optimizer_factory):
        module = fresh_module()
        return module, optimizer_factory(module.parameters())

    def sync():  # CUDA runs asynchronously: wait for it before the clock stops
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def manual_epoch(name, mine_and_loss, optimizer_factory=torch_adam):
        module, opt = fresh(optimizer_factory)
        n_trip = 0
        for idx in batches:
            idx = idx.to(device)
            emb = module(x_dev[idx])
            loss, n = mine_and_loss(emb, y_dev[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n_trip += n
        sync()
        counts[name] = n_trip

    gen = torch.Generator(device=device).manual_seed(args.seed)

    def ours(emb, labels):
        with torch.no_grad():
            a, p, n = mine_triplets(
                pairwise_squared_distances(emb.detach()),
                labels,
                strategy="semihard",
                margin=MARGIN,
                generator=gen,
            )
        return triplet_loss(emb, a, p, n, MARGIN)[0], a.numel()

    sq = distances.LpDistance(normalize_embeddings=True, p=2, power=2)
    miner = miners.TripletMarginMiner(margin=MARGIN, type_of_triplets="semihard", distance=sq)
    pml_loss = losses.TripletMarginLoss(margin=MARGIN, distance=sq, reducer=reducers.MeanReducer())

    def pml(emb, labels):
        triplets = miner(emb, labels)
        return pml_loss(emb, labels, triplets), triplets[0].numel()

    rng = np.random.default_rng(args.seed)

    def python_loop(emb, labels):
        with torch.no_grad():
            a, p, n = python_loop_triplets(
                pairwise_squared_distances(emb.detach()), labels, MARGIN, rng
            )
        return triplet_loss(emb, a, p, n, MARGIN)[0], a.numel()

    def run_train_module():
        hist = train_module(
            fresh_module(),
            TripletBatchLoss(MARGIN, "semihard"),
            adam(LR),
            (x_dev, y_dev, torch.zeros_like(y_dev)),
            batch_size=BATCH,
            max_epochs=1,
            generator=torch.Generator().manual_seed(args.seed),
            batch_sampler=lambda g: batches,
            device=device,
        )
        counts["train_module"] = hist[0]["n_triplets"]

    def run_estimator(max_epochs=1):
        emb = TripletEmbedder(
            max_epochs=max_epochs,
            batch_size=BATCH,
            margin=MARGIN,
            validation_fraction=0,
            n_iter_no_change=None,
            device=args.device,
            random_state=args.seed,
        ).fit(X, y)
        if max_epochs:
            counts["TripletEmbedder.fit"] = emb.history_[0]["n_triplets"]

    # Mining + loss + backward alone, on the embeddings of the first batch (no network):
    # where the variants differ at all.
    with torch.no_grad():
        emb0 = initial.to(device).eval()(x_dev[batches[0].to(device)])
    labels0 = y_dev[batches[0].to(device)]

    def loss_only(mine_and_loss):
        e = emb0.clone().requires_grad_()
        mine_and_loss(e, labels0)[0].backward()
        sync()

    loss_times = _common.interleaved_times(
        {
            "skspeckle": lambda: loss_only(ours),
            "pml": lambda: loss_only(pml),
            "python_loop": lambda: loss_only(python_loop),
        },
        repeats=20 if quick else 200,
    )
    loss_only_ms = {k: 1e3 * float(np.median(t)) for k, t in loss_times.items()}
    print(
        "mining + loss + backward per batch (ms):",
        ", ".join(f"{k} {v:.2f}" for k, v in loss_only_ms.items()),
    )

    # One optimiser step on the gradients of the first batch, per implementation.
    def step_and_sync(opt):
        opt.step()
        sync()

    steppers = {}
    for name, factory in (
        ("torch.optim.Adam", torch_adam),
        ("skspeckle.nn.training.adam", adam(LR)),
    ):
        module, opt = fresh(factory)
        module(x_dev[batches[0].to(device)]).sum().backward()
        steppers[name] = functools.partial(step_and_sync, opt)
    step_times = _common.interleaved_times(steppers, repeats=20 if quick else 200)
    optimizer_step_ms = {k: 1e3 * float(np.median(t)) for k, t in step_times.items()}
    print("optimiser step (ms):", ", ".join(f"{k} {v:.2f}" for k, v in optimizer_step_ms.items()))

    setup_s = float(
        np.median(
            _common.interleaved_times(
                {"setup": lambda: run_estimator(max_epochs=0)}, repeats=3 if quick else 15
            )["setup"]
        )
    )
    print(f"TripletEmbedder.fit set-up (max_epochs=0): {1e3 * setup_s:.1f} ms")

    times = _common.interleaved_times(
        {
            "train_module": run_train_module,
            "bare_torch": lambda: manual_epoch("bare_torch", ours, adam(LR)),
            "pml": lambda: manual_epoch("pml", pml),
            "python_loop": lambda: manual_epoch("python_loop", python_loop),
            "TripletEmbedder.fit": run_estimator,
        },
        repeats=repeats,
    )
    ratios = _common.ratio_summary(times, "pml")
    rows = []
    for variant, t in times.items():
        rows.append(
            {
                "variant": variant,
                "n_patterns": n_frames,
                "n_batches": len(batches),
                "triplets_per_epoch": counts[variant],
                "median_patterns_per_s": float(n_frames / np.median(t)),
                "median_triplets_per_s": float(counts[variant] / np.median(t)),
                "seconds": t.tolist(),
                "ratio_to_pml": ratios[variant],
            }
        )
        print(
            f"{variant:20s} {n_frames / np.median(t):8.0f} patterns/s "
            f"{counts[variant] / np.median(t):10.0f} triplets/s "
            f"ratio to pml {ratios[variant]['median_ratio']:.3f}"
        )

    fig, ax = _common.figure(figsize=(6, 3.5))
    names = [r["variant"] for r in rows]
    ax.barh(names, [r["median_patterns_per_s"] for r in rows], color="tab:blue")
    for i, r in enumerate(rows):
        ax.text(
            r["median_patterns_per_s"],
            i,
            f" {r['ratio_to_pml']['median_ratio']:.2f}x pml",
            va="center",
        )
    ax.set_xlabel("patterns / s, one training epoch (median)")
    ax.set_title(f"Semi-hard triplet training, batch {BATCH}, {device}")
    ax.invert_yaxis()
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "batch_size": BATCH,
            "margin": MARGIN,
            "repeats": repeats,
            "mining_loss_backward_ms": loss_only_ms,
            "optimizer_step_ms": optimizer_step_ms,
            "estimator_setup_seconds": setup_s,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
