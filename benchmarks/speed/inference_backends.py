"""Inference backends: the estimators against bare torch and bare onnxruntime, by batch size.

Part 1 (48 x 48 frames, batch 1, 64 and 512): patterns per second of

- ``bare_torch``: ``with torch.inference_mode(): module_(batch)`` over ready float32 tensors
  (``bare_torch_bfloat16``: the same under bfloat16 autocast);
- ``bare_onnxruntime``: an ``onnxruntime.InferenceSession`` on ``module_`` exported directly
  with ``torch.onnx.export`` (this script's own export, not skspeckle's), over ready numpy
  batches;
- ``transform_<backend>[_bfloat16]``: ``TripletEmbedder.transform`` with
  ``inference_backend`` torch / onnxruntime (input validation and conversion included);
- ``predict_auto``: the pipeline ``DetectorMask(0.25) -> TripletEmbedder -> FewShotCentroid
  Classifier(k=5)`` with the default ``inference_backend="auto"``.

At batch 1 every variant is called once per frame (one frame at a time inside an analysis
script: the estimator's per-call validation counts); at 64 and 512 once per set of frames,
with ``inference_batch_size`` set to the batch. The variants run interleaved (``repeats``
rounds) and the per-round ratios to ``bare_torch`` and to ``bare_onnxruntime`` are summarised
by their median: the goal is ``predict_auto`` / ``transform_onnxruntime`` >= 0.95x the fastest
bare runtime (issue 17).

Part 2 (``transform`` only, float32): the inference batch size 32 ... 1024 at 48 x 48 and
96 x 96 for each backend, interleaved; the fastest became ``DEFAULT_INFERENCE_BATCH`` in
``skspeckle/_inference.py``.

The weights are untrained (``max_epochs=0``) and the frames Poisson noise: the speed of a
forward pass depends on neither. Threads: torch's (``--threads``), which onnxruntime follows.

Usage::

    .venv/bin/python benchmarks/speed/inference_backends.py --scale full
    .venv/bin/python benchmarks/speed/inference_backends.py --scale full --threads 1
"""

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.nn.device import autocast, native_bfloat16
from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "inference_backends"
N_SINGLE = 128  # frames of the batch-1 rows (one call each)
CPU = torch.device("cpu")


def frames(n, side, seed):
    rng = np.random.default_rng(seed)
    X = rng.poisson(2.0, size=(n, side, side)).astype(np.float32)
    return X, np.arange(n) % 3


def fitted_pipeline(X, y, seed, **embedder):
    return make_pipeline(
        DetectorMask(0.25),
        TripletEmbedder(max_epochs=0, device="cpu", random_state=seed, **embedder),
        FewShotCentroidClassifier(k=5, random_state=seed),
    ).fit(X, y)


def bare_session(module, side):
    """onnxruntime on the module, exported here without skspeckle's engine."""
    import onnxruntime

    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        module,
        (torch.zeros(2, side, side),),
        dynamo=True,
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(
        program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def batched(fn, data, batch):
    def run():
        for s in range(0, len(data), batch):
            fn(data[s : s + batch])

    return run


def part_backends(args, batch_sizes, n_frames, repeats):
    X, y = frames(n_frames, 48, args.seed)
    pipe = fitted_pipeline(X, y, args.seed)
    embedder = pipe[1]
    masked = pipe[0].transform(X)
    tensors = torch.from_numpy(masked)
    module = embedder.module_.eval()
    session = bare_session(module, 48)
    name = session.get_inputs()[0].name
    bf16 = "native" if native_bfloat16(CPU) else "emulated"

    def torch_forward(x, precision="float32"):
        with torch.inference_mode(), autocast(CPU, precision):
            return module(x)

    # Copies of the fitted embedder, one per backend / precision (each with its own engine).
    embedders = {}
    for backend, precision in (
        ("torch", "float32"),
        ("torch", "bfloat16"),
        ("onnxruntime", "float32"),
    ):
        twin = copy.deepcopy(embedder).set_params(inference_backend=backend, precision=precision)
        embedders[f"transform_{backend}" + ("" if precision == "float32" else "_bfloat16")] = twin
    np.testing.assert_allclose(
        embedders["transform_onnxruntime"].transform(masked),
        torch_forward(tensors).numpy(),
        atol=1e-5,
    )
    pipe.predict(X)  # inference_backend="auto" exports outside the timing (if the call is large)
    rows = []
    for batch in batch_sizes:
        for twin in embedders.values():
            twin.set_params(inference_batch_size=batch)
        pipe[1].set_params(inference_batch_size=batch)
        n = min(len(X), N_SINGLE) if batch == 1 else len(X)  # one call per frame at batch 1
        Xb, mb, tb = X[:n], masked[:n], tensors[:n]
        variants = {
            "bare_torch": batched(torch_forward, tb, batch),
            "bare_torch_bfloat16": batched(lambda x: torch_forward(x, "bfloat16"), tb, batch),
            "bare_onnxruntime": batched(lambda x: session.run(None, {name: x}), mb, batch),
            "predict_auto": batched(pipe.predict, Xb, 1)
            if batch == 1
            else lambda: pipe.predict(Xb),
        }
        for label, twin in embedders.items():
            variants[label] = (
                batched(twin.transform, mb, 1) if batch == 1 else (lambda t=twin: t.transform(mb))
            )
        times = _common.interleaved_times(variants, repeats=repeats)
        to_torch = _common.ratio_summary(times, "bare_torch")
        to_ort = _common.ratio_summary(times, "bare_onnxruntime")
        for variant, t in times.items():
            rows.append(
                {
                    "batch_size": batch,
                    "variant": variant,
                    "n_patterns": n,
                    "median_patterns_per_s": float(n / np.median(t)),
                    "seconds": t.tolist(),
                    "ratio_to_bare_torch": to_torch[variant],
                    "ratio_to_bare_onnxruntime": to_ort[variant],
                }
            )
    print(f"\nPart 1: 48 x 48, {torch.get_num_threads()} threads, bfloat16 {bf16} on this CPU")
    print(
        f"{'batch':>5} {'variant':26s} {'patterns/s':>11} {'/ bare torch':>13} {'/ bare ORT':>11}"
    )
    for r in rows:
        print(
            f"{r['batch_size']:5d} {r['variant']:26s} {r['median_patterns_per_s']:11.0f} "
            f"{r['ratio_to_bare_torch']['median_ratio']:13.2f} "
            f"{r['ratio_to_bare_onnxruntime']['median_ratio']:11.2f}"
        )
    return rows, bf16, (masked, embedders["transform_torch"], embedders["transform_onnxruntime"])


def part_batch_sizes(args, sides, batch_sizes, n_frames, repeats, fitted48):
    rows = []
    for side in sides:
        if side == 48:  # part 1's embedders, already exported
            masked, torch_emb, ort_emb = fitted48
        else:
            X, y = frames(n_frames, side, args.seed)
            pipe = fitted_pipeline(X, y, args.seed, inference_backend="onnxruntime")
            masked, ort_emb = pipe[0].transform(X), pipe[1]
            torch_emb = copy.deepcopy(ort_emb).set_params(inference_backend="torch")
            ort_emb.transform(masked[:2])  # export outside the timing
        variants = {}
        for batch in batch_sizes:
            for backend, emb in (("torch", torch_emb), ("onnxruntime", ort_emb)):

                def run(emb=emb, batch=batch):
                    emb.set_params(inference_batch_size=batch)
                    emb.transform(masked)

                variants[f"{backend}:{batch}"] = run
        times = _common.interleaved_times(variants, repeats=repeats)
        for key, t in times.items():
            backend, batch = key.split(":")
            rows.append(
                {
                    "frame_side": side,
                    "backend": backend,
                    "batch_size": int(batch),
                    "median_patterns_per_s": float(len(masked) / np.median(t)),
                    "seconds": t.tolist(),
                }
            )
    print("\nPart 2: transform patterns/s by inference batch size")
    for side in sides:
        for backend in ("torch", "onnxruntime"):
            sel = [r for r in rows if r["frame_side"] == side and r["backend"] == backend]
            best = max(sel, key=lambda r: r["median_patterns_per_s"])
            cells = "  ".join(f"{r['batch_size']}:{r['median_patterns_per_s']:.0f}" for r in sel)
            print(f"{side:3d}x{side:<3d} {backend:12s} {cells}   best {best['batch_size']}")
    return rows


def main(argv=None):
    def extra(parser):
        parser.add_argument(
            "--repeats", type=int, default=None, help="interleaved rounds (default by scale)"
        )
        parser.add_argument(
            "--frames",
            type=int,
            default=None,
            help="frames per timed call (default 128 quick, 1024 full; a loaded machine "
            "may need fewer)",
        )

    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv, extra=extra)
    started = time.perf_counter()
    quick = args.scale == "quick"
    repeats = args.repeats or (2 if quick else 5)
    n_frames = args.frames or (128 if quick else 1024)
    rows, bf16, fitted48 = part_backends(args, (64,) if quick else (1, 64, 512), n_frames, repeats)
    scan = part_batch_sizes(
        args,
        (48,) if quick else (48, 96),
        (64, 256) if quick else (32, 64, 128, 256, 512, 1024),
        n_frames,
        args.repeats or (2 if quick else 3),
        fitted48,
    )

    fig, (ax, ax2) = _common.figure(1, 2, figsize=(10, 3.8))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        sel = [r for r in rows if r["variant"] == variant]
        ax.plot(
            [r["batch_size"] for r in sel],
            [r["median_patterns_per_s"] for r in sel],
            "o-",
            label=variant,
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("patterns / s (median)")
    ax.set_title("48x48, CPU")
    ax.legend(fontsize=6)
    for side in dict.fromkeys(r["frame_side"] for r in scan):
        for backend in ("torch", "onnxruntime"):
            sel = [r for r in scan if r["frame_side"] == side and r["backend"] == backend]
            ax2.plot(
                [r["batch_size"] for r in sel],
                [r["median_patterns_per_s"] for r in sel],
                "o-",
                label=f"{backend} {side}x{side}",
            )
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("inference batch size")
    ax2.set_ylabel("transform patterns / s")
    ax2.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {"bfloat16_on_this_cpu": bf16, "repeats": repeats, "rows": rows, "batch_scan": scan},
        started,
    )


if __name__ == "__main__":
    main()
