"""Single-frame latency: microseconds per frame at batch 1, full and small SpeckleNN networks.

What a frame costs inside an analysis script that classifies frames one at a time as they
arrive: ``TripletEmbedder(network="speckle_nn")`` (128-d) and
``TripletEmbedder(network="speckle_nn_small", n_components=50)`` (the FPGA class of Dave et
al. 2025: 64.6 K parameters, 50-d, 45 us per frame on an FPGA, about 400 us on an A100), at 48 x
48, each timed as

- ``eager``: the bare module, ``with torch.inference_mode(): embedder.module_(frame)`` on a
  ready ``(1, 48, 48)`` float32 tensor, with one torch thread;
- ``eager_default_threads``: the same with torch's default thread count (the core count), what
  a script gets without ``torch.set_num_threads(1)``;
- ``transform``: ``embedder.transform(frame[None])`` (numpy in, validation, numpy out), one
  thread;
- ``pipeline_predict``: ``pipe.predict(frame[None])`` of ``DetectorMask(0.25)`` ->
  embedder -> ``FewShotCentroidClassifier(k=5)``, one thread;
- ``hot_loop``: the same three steps called one by one the way docs/latency.rst suggests for a
  per-frame loop: ``mask.transform``, the bare module under ``torch.inference_mode()``, then
  ``few_shot.predict`` on the embedding, one thread;
- ``onnxruntime``: the same ``module_`` exported to ONNX and run by an ONNX Runtime
  ``InferenceSession`` (CPU execution provider, one intra-op and one inter-op thread) on a
  ready numpy frame; skipped, and listed under ``missing``, without the ``onnx`` extra.

Each variant is called ``n_calls`` times per round, the rounds interleaved (so load drift hits
every variant alike), after a warm-up; the figure is the median over all calls (1000 at full
scale, 100 at quick), with the quartiles and the 99th percentile. The weights are untrained
(``max_epochs=0``): the latency does not depend on them. Goal (issue 17): <= 45 us per
frame with the small network.

Usage::

    .venv/bin/python benchmarks/speed/latency.py --scale full
"""

import io
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from skspeckle.datasets import make_speckle_patterns
from skspeckle.embedding import TripletEmbedder
from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.nn.networks.layers import n_parameters
from skspeckle.preprocessing import DetectorMask

# The modules shared by the scripts (_common, _scenarios) sit in benchmarks/, imported by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common

NAME = "latency"
NETWORKS = {"speckle_nn": 128, "speckle_nn_small": 50}  # network -> n_components
GOAL_US = 45.0


def onnx_session(module, frame):
    """An ONNX Runtime session of ``module`` for single frames, or None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter (dynamo=False) traces the module in a fraction of a
        # second and needs no onnxscript; torch warns that it is deprecated.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (frame,), buffer, input_names=["frames"], output_names=["z"], dynamo=False
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        buffer.getvalue(), options, providers=["CPUExecutionProvider"]
    )


def timed_calls(functions, threads, n_rounds, n_calls, warmup):
    """Seconds per call of each function, ``n_calls`` per round, rounds interleaved.

    ``threads[name]`` is the torch thread count set before that function's calls.
    """
    times = {name: [] for name in functions}
    for r in range(n_rounds + 1):
        names = list(functions)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            torch.set_num_threads(threads[name])
            f = functions[name]
            if r == 0:  # warm-up round: allocator, thread pools, oneDNN primitives
                for _ in range(warmup):
                    f()
                continue
            for _ in range(n_calls):
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(t) for name, t in times.items()}


def main(argv=None):
    args = _common.parse_args(NAME, __doc__.splitlines()[0], argv)
    started = time.perf_counter()
    quick = args.scale == "quick"
    n_rounds, n_calls, warmup = (1, 100, 10) if quick else (5, 200, 100)
    default_threads = os.cpu_count()
    X, y, _ = make_speckle_patterns(["3jb9"], n_per_class=10 if quick else 40, random_state=0)
    frame = X[:1]  # (1, 48, 48) float32 photons
    tensor = torch.from_numpy(np.ascontiguousarray(frame))
    rows, missing = [], []
    for network, n_components in NETWORKS.items():
        embedder = TripletEmbedder(
            n_components,
            network=network,
            max_epochs=0,  # untrained: the latency does not depend on the weights
            device="cpu",
            random_state=args.seed,
        )
        pipe = make_pipeline(
            DetectorMask(0.25), embedder, FewShotCentroidClassifier(k=5, random_state=args.seed)
        )
        torch.set_num_threads(1)
        pipe.fit(X, y)
        module = embedder.module_.eval()

        def eager(module=module):
            with torch.inference_mode():
                return module(tensor)

        def hot_loop(mask=pipe[0], module=module, few_shot=pipe[-1]):
            with torch.inference_mode():
                z = module(torch.from_numpy(mask.transform(frame)))
            return few_shot.predict(z.numpy())

        functions = {
            "eager": eager,
            "eager_default_threads": eager,
            "transform": lambda embedder=embedder: embedder.transform(frame),
            "pipeline_predict": lambda pipe=pipe: pipe.predict(frame),
            "hot_loop": hot_loop,
        }
        assert hot_loop() == pipe.predict(frame)  # the recipe gives the pipeline's label
        session = onnx_session(module, tensor)
        if session is None:
            missing.append("onnxruntime: not installed (the onnx extra)")
        else:
            # Same numbers from both runtimes, or the comparison is meaningless.
            np.testing.assert_allclose(
                session.run(None, {"frames": frame})[0], eager().numpy(), atol=1e-5
            )
            functions["onnxruntime"] = lambda session=session: session.run(None, {"frames": frame})
        threads = dict.fromkeys(functions, 1) | {"eager_default_threads": default_threads}
        times = timed_calls(functions, threads, n_rounds, n_calls, warmup)
        for variant, t in times.items():
            us = t * 1e6
            rows.append(
                {
                    "network": network,
                    "n_components": n_components,
                    "n_parameters": n_parameters(module),
                    "variant": variant,
                    "torch_threads": threads[variant],
                    "n_calls": len(us),
                    "median_us": float(np.median(us)),
                    "q25_us": float(np.percentile(us, 25)),
                    "q75_us": float(np.percentile(us, 75)),
                    "p99_us": float(np.percentile(us, 99)),
                    "round_medians_us": [float(np.median(c)) for c in np.array_split(us, n_rounds)],
                }
            )
            print(
                f"{network:17s} {variant:22s} {np.median(us):9.1f} us per frame "
                f"(q25 {np.percentile(us, 25):.1f}, q75 {np.percentile(us, 75):.1f})",
                flush=True,
            )
    torch.set_num_threads(1)

    fig, ax = _common.figure(figsize=(6.5, 3.8))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for i, network in enumerate(NETWORKS):
        sel = {r["variant"]: r for r in rows if r["network"] == network}
        x = np.arange(len(variants)) + (i - 0.5) * 0.38
        ax.bar(
            x,
            [sel[v]["median_us"] if v in sel else np.nan for v in variants],
            width=0.38,
            label=f"{network} ({sel['eager']['n_parameters']:,} parameters)",
        )
    ax.axhline(GOAL_US, color="k", ls="--", lw=1, label=f"goal {GOAL_US:g} us")
    ax.set_yscale("log")
    ax.set_xticks(range(len(variants)), variants, rotation=20, fontsize=8)
    ax.set_ylabel("us per frame (median), batch 1")
    ax.set_title("Single-frame latency, 48x48, CPU")
    ax.legend(fontsize=7)
    _common.save_figure(fig, NAME, args)
    return _common.write_result(
        NAME,
        args,
        {
            "frame_shape": list(frame.shape[1:]),
            "n_rounds": n_rounds,
            "calls_per_round": n_calls,
            "goal_us": GOAL_US,
            "default_threads": default_threads,
            "missing": missing,
            "rows": rows,
        },
        started,
    )


if __name__ == "__main__":
    main()
