"""Inference speed: the estimators against a bare PyTorch forward pass of the same module.

Patterns per second of ``TripletEmbedder.transform`` and of the whole pipeline's ``predict``
(``DetectorMask`` -> ``TripletEmbedder`` -> ``FewShotCentroidClassifier``) against the bare
loop ``with torch.inference_mode(): embedder.module_(batch)`` over the same frames, already a
float32 tensor, in batches of the same size. The bare loop is the ceiling: what the estimators
add is input validation, conversion to float32 tensors, the masking step and the few-shot
distances. The variants run interleaved, ``repeats`` rounds, and the per-round ratios
(estimator rate / bare rate) are summarised by their median; the target is a median ratio of
at least 0.95 at the default batch size (64).

The embedder runs with ``inference_backend="torch"`` and ``inference_batch_size`` set to
the batch size: this script measures what the estimators add to the torch forward pass;
``inference_backends.py`` compares the backends. The weights are untrained
(``max_epochs=0``): the speed of a forward pass does not depend on them. ``--precision
bfloat16|float16`` runs both the estimators and the bare loop in mixed precision
(``TripletEmbedder(precision=...)``, ``skspeckle.nn.device.autocast``) and writes
``inference_speed_<precision>.{json,png}``, with the float32 rate of the bare loop beside it.

Usage::

    .venv/bin/python benchmarks/speed/inference_speed.py --scale full [--device cpu]
    .venv/bin/python benchmarks/speed/inference_speed.py --scale full --precision float16
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.nn.device import autocast, resolve_device
from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "inference_speed"
DEFAULT_BATCH = 64


def bare_forward(module, frames, batch_size, device, precision="float32"):
    """The ceiling: the module on ready float32 tensors, batch by batch, results to the CPU."""
    module.to(device).eval()
    out = []
    with torch.inference_mode(), autocast(device, precision):
        for start in range(0, len(frames), batch_size):
            out.append(module(frames[start : start + batch_size].to(device)).cpu())
    module.cpu()
    return torch.cat(out)


def main(argv=None):
    def extra(parser):
        parser.add_argument(
            "--repeats", type=int, default=None, help="interleaved rounds (default by scale)"
        )
        _common.add_precision_argument(parser)

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    name = NAME if args.precision == "float32" else f"{NAME}_{args.precision}"
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_per_class = 40 if quick else 700  # 120 / 2100 frames of 48 x 48
    repeats = args.repeats or (3 if quick else 15)
    batch_sizes = (DEFAULT_BATCH,) if quick else (16, DEFAULT_BATCH, 256, 1024)
    device = resolve_device(args.device)

    X, y, _ = make_speckle_patterns(["3jb9"], n_per_class=n_per_class, random_state=args.seed)
    rows = []
    for batch_size in batch_sizes:
        embedder = TripletEmbedder(
            max_epochs=0,
            # The torch path's overhead over the bare loop (inference_backends.py compares
            # the backends), in batches of the same size.
            inference_backend="torch",
            inference_batch_size=batch_size,
            device=args.device,
            precision=args.precision,
            random_state=args.seed,
        )
        pipe = make_pipeline(
            DetectorMask(0.25), embedder, FewShotCentroidClassifier(k=5, random_state=args.seed)
        ).fit(X, y)
        masked = pipe[0].transform(X)  # what the embedder sees inside the pipeline
        frames = torch.from_numpy(np.ascontiguousarray(masked, dtype=np.float32))
        module = embedder.module_
        # Same numbers from both paths, or the comparison is meaningless.
        np.testing.assert_allclose(
            embedder.transform(masked),
            bare_forward(module, frames, batch_size, device, args.precision).numpy(),
            rtol=1e-5,
            atol=1e-6,
        )
        variants = {
            "bare_forward": lambda: bare_forward(
                module, frames, batch_size, device, args.precision
            ),
            "transform": lambda: embedder.transform(masked),
            "pipeline_predict": lambda: pipe.predict(X),
        }
        if args.precision != "float32":
            variants["bare_forward_float32"] = lambda: bare_forward(
                module, frames, batch_size, device
            )
        times = _common.interleaved_times(variants, repeats=repeats)
        ratios = _common.ratio_summary(times, "bare_forward")
        for variant, t in times.items():
            rows.append(
                {
                    "batch_size": batch_size,
                    "variant": variant,
                    "n_patterns": len(X),
                    "median_patterns_per_s": float(len(X) / np.median(t)),
                    "seconds": t.tolist(),
                    # Ratio to the bare pass: > 1 faster, < 1 slower.
                    "ratio_to_bare": ratios[variant],
                }
            )
            print(
                f"batch {batch_size:5d} {variant:17s} {len(X) / np.median(t):9.0f} patterns/s"
                f"  ratio {ratios[variant]['median_ratio']:.3f}"
            )

    fig, ax = _common.figure(figsize=(5.5, 3.8))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        sel = [r for r in rows if r["variant"] == variant]
        ax.plot(
            [r["batch_size"] for r in sel],
            [r["median_patterns_per_s"] for r in sel],
            "o-",
            label=variant,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("patterns / s (median)")
    ax.set_title(f"Inference, 48x48 frames, {device}, {args.precision}")
    ax.legend()
    _common.save_figure(fig, name, args)
    return _common.write_result(
        name,
        args,
        {
            "frame_shape": list(X.shape[1:]),
            "precision": args.precision,
            "repeats": repeats,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
