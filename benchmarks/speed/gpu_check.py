"""GPU check: every CUDA path of the package in one run, and patterns/s at 48x48 and 96x96.

A prepared script for the day a CUDA machine is at hand (issue 17, section 4); under 8 minutes
on a current GPU at ``--scale full``. It runs, recording each check (passed or its error) and
going on after a failure:

- ``fit``: the online scenario of Table I (3jb9, three classes, 60 labelled patterns per
  class, 12 at quick scale, rotation augmentation, semi-hard mining; all on the GPU), for
  both named networks (``speckle_nn``, ``speckle_nn_small``) and each precision:
  ``float32``, ``float16`` (mixed precision with loss scaling, ``torch.amp.GradScaler``) and
  ``bfloat16`` where the GPU supports it natively (``torch.cuda.is_bf16_supported()``;
  otherwise recorded as skipped); then ``transform`` and ``predict`` on the GPU, against the
  same fitted model run on the CPU in float32 (cosine similarity of the embeddings, label
  agreement, 3-way accuracy);
- ``inference_backend``: every value of ``TripletEmbedder(inference_backend=...)`` against
  the torch path, where this version of the package has that parameter;
- ``save_gpu_model_load_on_cpu``: a model fitted on the GPU saved with ``save_model``, loaded
  with ``load_model`` and run on the CPU: predictions identical to the in-memory model on the
  CPU, weights on the CPU;
- ``throughput``: patterns/s end to end from host memory (``transform`` of a numpy array:
  copy to the GPU, forward pass, embeddings back) at 48 x 48 and 96 x 96, both networks, each
  precision, over a range of batch sizes (the best one reported), beside the ceiling of the
  bare module on frames already on the GPU. Goal on an H100/H200-class GPU: >= 1e5
  patterns/s at 96 x 96.

Without CUDA (``--device auto`` on a CPU-only machine) it prints ``skipped: no CUDA`` and
exits with status 0, writing ``{"skipped": "no CUDA"}`` as its JSON (unless that file already
holds a measured result, which is kept). ``--device cpu`` runs the same checks on the CPU at
the given scale: ``--device cpu --scale quick`` is the dry run that tests the script itself on
any machine (tests/test_benchmarks.py). Exit status 1 when any check failed.

Usage::

    .venv/bin/python benchmarks/speed/gpu_check.py --scale full --device cuda
    .venv/bin/python benchmarks/speed/gpu_check.py --scale quick --device cpu   # dry run
"""

import copy
import json
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.nn.device import PRECISIONS, autocast, resolve_device
from skspeckle.persistence import load_model, save_model

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common
import _scenarios

NAME = "gpu_check"
NETWORKS = {"speckle_nn": 128, "speckle_nn_small": 50}  # network -> n_components
GOAL_96 = 1e5  # patterns/s at 96 x 96 on an H100/H200-class GPU
#: Past this many seconds the remaining throughput configurations are skipped (and listed), so
#: that the whole run stays under 8 minutes.
TIME_BUDGET_S = 420


def _run_check(checks, name, fn):
    """Run ``fn() -> dict`` as check ``name``; record its result or its error, never raise."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            entry = {"check": name, "ok": True, **(fn() or {})}
        except Exception as exc:  # a failing path must not hide the others
            entry = {
                "check": name,
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
    entry["warnings"] = sorted({str(w.message) for w in caught})
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    checks.append(entry)
    status = "ok" if entry["ok"] else f"FAILED: {entry['error']}"
    print(f"[{entry['seconds']:7.1f} s] {name}: {status}", flush=True)
    return entry


def _precisions(device):
    """Precisions to check, and the reason for each one left out."""
    skipped = {}
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        skipped["bfloat16"] = "the GPU has no native bfloat16 (torch.cuda.is_bf16_supported())"
    if device.type == "cpu":
        skipped["float16"] = "float16 on the CPU is emulated (CUDA only)"
    return [p for p in PRECISIONS if p not in skipped], skipped


def _cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _on_cpu(pipe):
    """A copy of a fitted pipeline whose embedder computes on the CPU in float32."""
    cpu = copy.deepcopy(pipe)
    cpu[0].set_params(device="cpu", precision="float32")
    return cpu


def check_fit(network, n_components, precision, data, device, max_epochs, seed):
    X_lab, y_lab, X_test, y_test = data
    embedder = _scenarios.speckle_embedder(
        max_epochs,
        str(device),
        seed,
        network=network,
        n_components=n_components,
        precision=precision,
    )
    pipe = make_pipeline(embedder, FewShotCentroidClassifier(k=5, random_state=seed))
    t0 = time.perf_counter()
    pipe.fit(X_lab, y_lab)
    fit_seconds = time.perf_counter() - t0
    history = embedder.history_
    if not all(np.isfinite(h["loss"]) for h in history):
        raise FloatingPointError(f"non-finite training loss: {[h['loss'] for h in history]}")
    if any(p.device.type != "cpu" for p in embedder.module_.parameters()):
        raise AssertionError("module_ is not back on the CPU after fit")
    Z = embedder.transform(X_test)
    labels = pipe.predict(X_test)
    if not np.all(np.isfinite(Z)):
        raise FloatingPointError("non-finite embeddings")
    cpu = _on_cpu(pipe)
    Z_cpu, labels_cpu = cpu[0].transform(X_test), cpu.predict(X_test)
    cos = _cosines(Z, Z_cpu)
    # float32 on a GPU may use TF32 convolutions; the 16-bit types round more.
    min_cos = 0.999 if precision == "float32" else 0.99
    if cos.min() < min_cos:
        raise AssertionError(f"embeddings on {device} and on the CPU differ: cos {cos.min()}")
    return {
        "network": network,
        "precision": precision,
        "epochs": embedder.n_iter_,
        "fit_seconds": fit_seconds,
        "train_samples_per_s": float(np.median([h["samples_per_s"] for h in history])),
        "final_loss": history[-1]["loss"],
        "min_cosine_to_cpu": float(cos.min()),
        "label_agreement_with_cpu": float(np.mean(labels == labels_cpu)),
        "accuracy_nway": float(np.mean(labels == y_test)),
        "norm_error": float(np.abs(np.linalg.norm(Z, axis=1) - 1).max()),
        "_pipe": pipe,
    }


def check_backends(pipe, X_test, device):
    embedder = pipe[0]
    if "inference_backend" not in embedder.get_params():
        return {"skipped": "this version of TripletEmbedder has no inference_backend parameter"}
    options = sorted(
        next(
            c.options
            for c in type(embedder)._parameter_constraints["inference_backend"]
            if hasattr(c, "options")
        )
    )
    reference = embedder.set_params(inference_backend="torch").transform(X_test)
    out = {}
    for backend in options:
        t0 = time.perf_counter()
        Z = copy.deepcopy(embedder).set_params(inference_backend=backend).transform(X_test)
        out[backend] = {
            "max_abs_diff_to_torch": float(np.abs(Z - reference).max()),
            "seconds": time.perf_counter() - t0,
        }
    bad = {b: v for b, v in out.items() if v["max_abs_diff_to_torch"] > 1e-4}
    if bad:
        raise AssertionError(f"backends differ from torch on {device}: {bad}")
    return {"backends": out}


def check_save_load(pipe, X_test, device):
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(pipe, Path(tmp) / "gpu_fitted.skops")
        loaded = load_model(path)
    loaded[0].set_params(device="cpu")
    if any(p.device.type != "cpu" for p in loaded[0].module_.parameters()):
        raise AssertionError("the loaded module is not on the CPU")
    expected = _on_cpu(pipe)
    labels, labels_expected = loaded.predict(X_test), expected.predict(X_test)
    Z, Z_expected = loaded[0].transform(X_test), expected[0].transform(X_test)
    if not (np.array_equal(labels, labels_expected) and np.array_equal(Z, Z_expected)):
        raise AssertionError("the model loaded on the CPU predicts otherwise than in memory")
    return {
        "fitted_on": str(device),
        "label_agreement_cpu_vs_fit_device": float(np.mean(labels == pipe.predict(X_test))),
    }


def _bare_rate(module, frames, batch_size, device, precision, repeats):
    """Patterns/s of the module on frames already on ``device`` (the ceiling)."""
    module.to(device).eval()
    x = torch.from_numpy(frames).to(device)

    def run():
        with torch.inference_mode(), autocast(device, precision):
            for start in range(0, len(x), batch_size):
                module(x[start : start + batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()  # warm-up: cuDNN autotuning, allocator
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    module.cpu()
    return len(frames) / float(np.median(times))


def check_throughput(side, network, n_components, precision, frames, batch_sizes, device, reps):
    embedder = TripletEmbedder(
        n_components, network=network, max_epochs=0, device=str(device), precision=precision
    ).fit(frames[:16], np.arange(16) % 2)  # untrained: speed does not depend on the weights
    rates = {}
    for batch_size in batch_sizes:
        embedder.set_params(batch_size=batch_size)
        embedder.transform(frames[: 2 * batch_size])  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            embedder.transform(frames)
            times.append(time.perf_counter() - t0)
        rates[batch_size] = len(frames) / float(np.median(times))
    best = max(rates, key=rates.get)
    bare = _bare_rate(embedder.module_, frames, best, device, precision, reps)
    return {
        "frame_side": side,
        "network": network,
        "precision": precision,
        "n_frames": len(frames),
        "patterns_per_s_by_batch": rates,
        "best_batch_size": best,
        "patterns_per_s": rates[best],
        "bare_on_device_patterns_per_s": bare,
    }


def _skip(args, started):
    path = Path(args.out_dir) / f"{NAME}.json"
    print(
        "skipped: no CUDA. This script checks the CUDA paths; run it on a machine with a GPU "
        "(--device cuda), or with --device cpu for a dry run of its logic."
    )
    if path.exists() and "skipped" not in json.loads(path.read_text())["results"]:
        print(f"kept the measured result in {path}")
        return None
    return _common.write_result(NAME, args, {"skipped": "no CUDA"}, started)


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    device = resolve_device(args.device)
    if device.type != "cuda" and args.device == "auto":
        _skip(args, started)
        return 0
    quick = args.scale == "quick"
    n_test, max_epochs = (5, 1) if quick else (100, 30)
    sides = {48: 2, 96: 1}  # frame side -> binning of the simulated 96 x 96 detector
    n_frames = {48: 64, 96: 16} if quick else {48: 1 << 17, 96: 1 << 16}
    batch_sizes = (32,) if quick else (256, 1024, 4096, 16384)
    reps = 1 if quick else 3
    precisions, skipped_precisions = _precisions(device)
    gpu = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu = {
            "name": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
        print(f"GPU: {gpu}", flush=True)

    checks = []
    if quick:  # the dry run: 12 labelled patterns per class instead of Table I's 60
        X, y, _ = make_speckle_patterns(
            ["3jb9"], n_per_class=12 + n_test, classes=_scenarios.CLASSES, random_state=args.seed
        )
        lab = np.concatenate([np.flatnonzero(y == c)[:12] for c in _scenarios.CLASSES])
        test = np.setdiff1d(np.arange(len(y)), lab)
        X_lab, y_lab, X_test, y_test = X[lab], y[lab], X[test], y[test]
    else:
        X_lab, y_lab, X_test, y_test, _ = _scenarios.online_data(n_test, 1e12, args.seed)
    data = (X_lab, y_lab, X_test, y_test)
    fitted = None
    for network, n_components in NETWORKS.items():
        for precision in precisions:
            entry = _run_check(
                checks,
                f"fit {network} {precision}",
                lambda: check_fit(
                    network, n_components, precision, data, device, max_epochs, args.seed
                ),
            )
            pipe = entry.pop("_pipe", None)
            if fitted is None and pipe is not None and precision == "float32":
                fitted = pipe
        for precision, reason in skipped_precisions.items():
            checks.append({"check": f"fit {network} {precision}", "ok": True, "skipped": reason})
    if fitted is None:
        checks.append({"check": "inference_backend", "ok": False, "error": "no fitted model"})
    else:
        _run_check(checks, "inference_backend", lambda: check_backends(fitted, X_test, device))
        _run_check(
            checks, "save_gpu_model_load_on_cpu", lambda: check_save_load(fitted, X_test, device)
        )

    for side, binning in sides.items():
        X, _, _ = make_speckle_patterns(
            ["3jb9"], n_per_class=4 if quick else 32, binning=binning, random_state=args.seed
        )
        frames = np.ascontiguousarray(np.resize(X, (n_frames[side], *X.shape[1:])))
        for network, n_components in NETWORKS.items():
            for precision in precisions:
                name = f"throughput {side}x{side} {network} {precision}"
                if time.perf_counter() - started > TIME_BUDGET_S:
                    checks.append({"check": name, "ok": True, "skipped": "time budget"})
                    continue
                _run_check(
                    checks,
                    name,
                    lambda: check_throughput(
                        side,
                        network,
                        n_components,
                        precision,
                        frames,
                        batch_sizes,
                        device,
                        reps,
                    ),
                )

    throughput = [c for c in checks if c.get("patterns_per_s")]
    best_96 = max((c["patterns_per_s"] for c in throughput if c["frame_side"] == 96), default=None)
    failed = [c["check"] for c in checks if not c["ok"]]
    _common.write_result(
        NAME,
        args,
        {
            "gpu": gpu,
            "device": str(device),
            "failed": failed,
            "goal_patterns_per_s_96": GOAL_96,
            "best_patterns_per_s_96": best_96,
            "checks": checks,
        },
        started,
    )
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
