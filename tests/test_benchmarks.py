"""The benchmark plumbing: result files, provenance, timing ratios and the Table I metrics.

The scripts themselves are smoke-tested by ``benchmarks/run_all.py --scale quick``; these
tests check the pieces every script relies on, in well under a second, and the CPU dry run of
``speed/gpu_check.py`` (which ``run_all.py`` skips without CUDA).
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
_common = pytest.importorskip("_common")
_scenarios = pytest.importorskip("_scenarios")


def test_parse_args_sends_each_script_and_its_quick_runs_to_their_own_folder(tmp_path):
    quick = _common.parse_args("demo", "x", ["--scale", "quick"])
    full = _common.parse_args("demo", "x", ["--scale", "full", "--seed", "3", "--device", "cpu"])
    assert Path(quick.out_dir) == _common.RESULTS / "demo" / "quick"
    assert Path(full.out_dir) == _common.RESULTS / "demo"
    assert (full.seed, full.device) == (3, "cpu")
    given = _common.parse_args("demo", "x", ["--out-dir", str(tmp_path)])
    assert Path(given.out_dir) == tmp_path
    assert _common.parse_args(None, "x", []).out_dir is None  # run_all.py: each script decides
    with pytest.raises(SystemExit):
        _common.parse_args("demo", "x", ["--scale", "huge"])


def test_every_script_run_all_knows_is_where_it_says_and_results_sit_per_script():
    run_all = pytest.importorskip("run_all")
    benchmarks = Path(_common.__file__).parent
    for name, kind in run_all.SCRIPTS.items():
        assert (benchmarks / kind / f"{name}.py").is_file(), (kind, name)
    # ... and every script is smoke-tested by it.
    for kind in ("paper", "speed"):
        scripts = {p.stem for p in (benchmarks / kind).glob("*.py") if not p.stem.startswith("_")}
        assert scripts <= set(run_all.SCRIPTS), sorted(scripts - set(run_all.SCRIPTS))
    # Result files live in benchmarks/results/<script>/, none loose beside the folders.
    assert not [p.name for p in _common.RESULTS.iterdir() if p.is_file()]
    assert (_common.RESULTS / "online_table1" / "online_table1.json").is_file()


def test_write_result_records_provenance_and_leaves_no_temporary(tmp_path):
    args = SimpleNamespace(out_dir=str(tmp_path), seed=7, scale="quick", device="cpu")
    _common.write_result(
        "demo",
        args,
        {"value": np.float32(0.5), "bad": float("nan"), "arr": np.arange(3)},
        started=0.0,
    )
    payload = json.loads((tmp_path / "demo.json").read_text())
    assert payload["results"] == {"value": 0.5, "bad": None, "arr": [0, 1, 2]}
    assert payload["seed"] == 7 and payload["scale"] == "quick"
    for key in ("skspeckle", "torch", "git_commit", "machine"):
        assert key in payload
    assert payload["machine"]["device"] == "cpu" and payload["machine"]["torch_threads"] >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json"]


def test_interleaved_times_rotates_the_order_and_ratios_compare_to_the_reference():
    calls = []
    times = _common.interleaved_times(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1
    )
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert {k: v.shape for k, v in times.items()} == {"a": (4,), "b": (4,)}
    summary = _common.ratio_summary(
        {"ref": np.array([2.0, 2.0, 4.0]), "fast": np.array([1.0, 1.0, 1.0])}, "ref"
    )
    assert summary["ref"]["median_ratio"] == 1.0
    assert summary["fast"]["median_ratio"] == 2.0


def test_bootstrap_interval_covers_the_statistic_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    wide = rng.random(20) < 0.7
    narrow = rng.random(2000) < 0.7
    lo_w, hi_w = _common.bootstrap_interval(lambda i: wide[i].mean(), len(wide), n_boot=300)
    lo_n, hi_n = _common.bootstrap_interval(lambda i: narrow[i].mean(), len(narrow), n_boot=300)
    assert lo_w <= wide.mean() <= hi_w and lo_n <= narrow.mean() <= hi_n
    assert hi_n - lo_n < (hi_w - lo_w) / 3


def test_scores_match_sklearn_single_hit_vs_rest():
    rng = np.random.default_rng(1)
    classes = np.array(_scenarios.CLASSES)
    y = classes[rng.integers(0, 3, 60)]
    preds = np.stack(
        [np.where(rng.random(60) < 0.8, y, classes[rng.integers(0, 3, 60)]) for _ in range(4)]
    )
    s = _scenarios.scores(y, preds, n_boot=50)
    truth = y == "single-hit"
    assert s["accuracy"] == pytest.approx(
        np.mean([accuracy_score(truth, p == "single-hit") for p in preds])
    )
    assert s["f1"] == pytest.approx(np.mean([f1_score(truth, p == "single-hit") for p in preds]))
    assert s["accuracy_nway"] == pytest.approx(np.mean([accuracy_score(y, p) for p in preds]))
    assert s["accuracy_ci95"][0] <= s["accuracy"] <= s["accuracy_ci95"][1]
    assert (s["n_test"], s["n_runs"]) == (60, 4)


def test_single_rate_by_n_particles_counts_single_calls_per_particle_number():
    preds = np.array([["single-hit", "multi-hit", "single-hit", "non-sample-hit"]] * 2)
    rates = _scenarios.single_rate_by_n_particles(preds, [1, 1, 2, 0])
    assert rates == {"0": 0.0, "1": 0.5, "2": 1.0}


def test_gpu_check_dry_run_on_the_cpu_runs_every_check(tmp_path):
    """``gpu_check.py --device cpu --scale quick``: the script's own logic, on any machine."""
    gpu_check = pytest.importorskip("speed.gpu_check")
    assert gpu_check.main(["--device", "cpu", "--scale", "quick", "--out-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "gpu_check.json").read_text())["results"]
    assert results["failed"] == [] and results["device"] == "cpu"
    checks = {c["check"]: c for c in results["checks"]}
    for network in ("speckle_nn", "speckle_nn_small"):
        assert checks[f"fit {network} float32"]["label_agreement_with_cpu"] == 1.0
        assert "skipped" in checks[f"fit {network} float16"]  # emulated on the CPU
        for side in (48, 96):
            assert checks[f"throughput {side}x{side} {network} float32"]["patterns_per_s"] > 0
    assert checks["save_gpu_model_load_on_cpu"]["ok"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_check_without_cuda_exits_0_with_a_skipped_result(tmp_path, capsys):
    gpu_check = pytest.importorskip("speed.gpu_check")
    assert gpu_check.main(["--out-dir", str(tmp_path)]) == 0
    assert "skipped: no CUDA" in capsys.readouterr().out
    results = json.loads((tmp_path / "gpu_check.json").read_text())["results"]
    assert results == {"skipped": "no CUDA"}
