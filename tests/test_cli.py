"""``skspeckle classify``: results file, exit codes and one-line errors without tracebacks;
SIGTERM, SIGINT and kill -9 mid-run, and ``--resume``."""

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from skspeckle.cli import build_parser, main
from skspeckle.io.cxi import write_cxi
from skspeckle.persistence import save_model


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_fitted_pipeline):
    """A saved fitted pipeline and a CXI run of 24 simulated 48 x 48 frames."""
    pipe, X, y = small_fitted_pipeline
    directory = tmp_path_factory.mktemp("cli")
    model = save_model(pipe, directory / "model.skops")
    run = write_cxi(directory / "run.cxi", X, y)
    return model, run, pipe, X


def test_classify_writes_results(tmp_path, files, capsys):
    model, run, pipe, X = files
    out = tmp_path / "results.h5"
    argv = [
        "classify",
        str(run),
        "--model",
        str(model),
        "--out",
        str(out),
        "--chunk-frames",
        "10",
        "--embeddings",
        "-v",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"classified {len(X)} frames" in captured.out and str(out) in captured.out
    assert "predict_file: 24/24 frames" in captured.out
    assert "predicted classes: " in captured.out and "frames/s" in captured.out
    assert "non-finite pixels (mask): 0 in 0 frame(s)" in captured.out
    with h5py.File(out) as h5:
        group = h5["skspeckle_results"]
        np.testing.assert_array_equal(group["predicted_label"].asstr()[()], pipe.predict(X))
        assert group["embeddings"].shape == (len(X), 8)
    # Again: the output exists -> exit 1 and a one-line message; --overwrite replaces it.
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert main(argv + ["--overwrite"]) == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--data-path": "entry_1/data"}, "Datasets in the file: "),
        ({"--model": "run"}, "not a skspeckle model file"),
        ({"input": "missing.cxi"}, "No such file"),
        ({"input": "model"}, "could not be opened as an HDF5/CXI file"),
    ],
)
def test_classify_user_errors(tmp_path, files, capsys, change, message):
    model, run, _, _ = files
    args = {"input": str(run), "--model": str(model), "--out": str(tmp_path / "o.h5")}
    named = {"run": str(run), "model": str(model), "missing.cxi": str(tmp_path / "missing.cxi")}
    args.update({k: named.get(v, v) for k, v in change.items()})
    argv = ["classify", args.pop("input")] + [x for kv in args.items() for x in kv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("skspeckle classify: error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o.h5").exists()


def test_classify_argument_errors(files, capsys):
    model, run, _, _ = files
    with pytest.raises(SystemExit) as info:
        main(["classify", str(run), "--model", str(model), "--out", "o.h5", "--chunk-frames", "0"])
    assert info.value.code == 2 and "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["classify", str(run), "--out", "o.h5"])
    assert info.value.code == 2 and "--model" in capsys.readouterr().err


# ``skspeckle classify`` in a child process whose chunks after the first wait for a marker
# file (argv[1]), so that a signal sent once the first chunk is in the journal always arrives
# mid-run; argv[2] is the parent's torch thread count (same threads, same bits).
_SLOW_CLASSIFY = """
import os, sys, time
import torch
torch.set_num_threads(int(sys.argv[2]))
import skspeckle.streaming
from skspeckle.cli import main
original, calls = skspeckle.streaming.classify_chunk, []
def gated(*args, **kwargs):
    calls.append(1)
    deadline = time.monotonic() + 60
    while len(calls) > 1 and not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return original(*args, **kwargs)
skspeckle.streaming.classify_chunk = gated
sys.exit(main(sys.argv[3:]))
"""


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _interrupt_classify(files, tmp_path, signum):
    """Run classify (chunks of 4 of 24 frames) in a child, send ``signum`` once its first
    chunk is committed; returns (returncode, stderr, argv, output, journal)."""
    import torch

    model, run, _, _ = files
    out, marker = tmp_path / "results.h5", tmp_path / "go"
    journal = tmp_path / ".results.h5.partial"
    argv = ["classify", str(run), "--model", str(model), "--out", str(out), "--chunk-frames", "4"]
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLASSIFY, str(marker), str(torch.get_num_threads()), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        deadline = time.monotonic() + 120
        while not (journal / "chunk_000000000000.npz").exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never committed its first chunk"
            time.sleep(0.02)
        child.send_signal(signum)
        marker.touch()
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, err, argv, out, journal


def _results(path):
    with h5py.File(path) as h5:
        return {name: ds[()] for name, ds in h5["skspeckle_results"].items()}


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    """Results of an uninterrupted run with chunks of 4."""
    model, run, _, _ = files
    out = tmp_path_factory.mktemp("reference") / "results.h5"
    argv = ["classify", str(run), "--model", str(model), "--out", str(out), "--chunk-frames", "4"]
    assert main(argv) == 0
    return _results(out)


def _assert_resumes_bit_identical(argv, out, journal, reference, capsys):
    assert main(argv + ["--resume"]) == 0
    assert "taken from the interrupted run" in capsys.readouterr().out
    result = _results(out)
    assert set(result) == set(reference)
    for name in result:
        np.testing.assert_array_equal(result[name], reference[name], err_msg=name, strict=True)
    assert not journal.exists() and not list(out.parent.rglob("*.tmp"))


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_run_then_resume(tmp_path, files, reference, capsys, signum, status):
    raw = _sha256(files[1])
    code, err, argv, out, journal = _interrupt_classify(files, tmp_path, signum)
    assert code == status, err
    name = signal.Signals(signum).name
    assert f"stopped by {name} after 8 of 24 frames" in err and "Traceback" not in err
    assert f"To continue: skspeckle classify {files[1]}" in err and err.rstrip().endswith(
        "--resume"
    )
    assert not out.exists() and not list(tmp_path.rglob("*.tmp"))  # no stray temporary file
    assert len(list(journal.glob("chunk_*.npz"))) == 2
    _assert_resumes_bit_identical(argv, out, journal, reference, capsys)
    assert _sha256(files[1]) == raw


def test_kill_9_mid_run_is_reported_then_resumed(tmp_path, files, reference, capsys):
    raw = _sha256(files[1])
    code, _, argv, out, journal = _interrupt_classify(files, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL and journal.is_dir() and not out.exists()
    # A killed writer's temporary file (as a kill during the final write leaves it).
    stale = tmp_path / ".results.h5.0123456789ab.tmp"
    stale.write_bytes(b"half a file")
    # The stale partial is reported, never silently reused.
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unfinished results of an earlier run (4 of 24 frames done" in err and "--resume" in err
    assert "--overwrite" in err and err.count("\n") == 1
    _assert_resumes_bit_identical(argv, out, journal, reference, capsys)
    assert not stale.exists()
    assert _sha256(files[1]) == raw


def test_nonfinite_frame_from_the_command_line(tmp_path, files, capsys):
    model, _, pipe, X = files
    frames = X.copy()
    frames[13, 0, 0] = np.inf
    run = write_cxi(tmp_path / "bad.cxi", frames)
    raw = _sha256(run)
    argv = ["classify", str(run), "--model", str(model), "--chunk-frames", "5", "--out"]
    assert main(argv + [str(tmp_path / "e.h5"), "--nonfinite", "error"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"skspeckle classify: error: Frame 13 of {str(run)!r} has 1 non-finite")
    assert "--nonfinite mask" in err
    assert main(argv + [str(tmp_path / "m.h5")]) == 0  # mask by default
    assert "non-finite pixels (mask): 1 in 1 frame(s)" in capsys.readouterr().out
    with h5py.File(tmp_path / "m.h5") as h5:
        assert h5["skspeckle_results/nonfinite_pixels"][13] == 1
        assert h5["skspeckle_results"].attrs["nonfinite_frames"] == 1
    assert main(argv + [str(tmp_path / "s.h5"), "--nonfinite", "skip"]) == 0
    assert "1 frame(s) skipped" in capsys.readouterr().out
    with h5py.File(tmp_path / "s.h5") as h5:
        assert np.flatnonzero(~h5["skspeckle_results/valid"][()]).tolist() == [13]
    assert _sha256(run) == raw


def test_demo_subcommand_still_parses():
    args = build_parser().parse_args(["demo", "--quick", "--seed", "3"])
    assert args.command == "demo" and args.quick and args.seed == 3


def test_classify_interrupted(tmp_path, files, capsys, monkeypatch):
    import skspeckle.streaming

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(skspeckle.streaming, "predict_file", interrupted)
    model, run, _, _ = files
    assert (
        main(["classify", str(run), "--model", str(model), "--out", str(tmp_path / "o.h5")]) == 130
    )
    assert "interrupted; no output written" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["classify", "--help"], ["demo", "--help"]])
def test_help_imports_nothing_heavy(argv):
    """``skspeckle --help`` stays fast: the command line imports torch, numpy, scikit-learn,
    h5py and gemmi only inside the commands that need them."""
    code = (
        "import sys\n"
        "from skspeckle.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = {'torch', 'numpy', 'sklearn', 'scipy', 'h5py', 'gemmi'}\n"
        "loaded = heavy & {m.split('.')[0] for m in sys.modules}\n"
        "assert not loaded, sorted(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: skspeckle")


class _Marker:
    """Writes a marker file when an unsafe loader restores it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).write_text("ran")
        self.__dict__.update(state)


def test_classify_refuses_untrusted_and_pickled_models(tmp_path, files, capsys):
    import json

    import joblib

    _, run, _, _ = files
    marker = tmp_path / "marker"
    with pytest.warns(UserWarning, match="_Marker"):
        hostile = save_model(_Marker(marker), tmp_path / "hostile.skops")
    argv = ["classify", str(run), "--out", str(tmp_path / "o.h5"), "--model"]
    assert main([*argv, str(hostile)]) == 1
    err = capsys.readouterr().err
    assert "not trusted" in err and "--trust test_cli._Marker" in err and not marker.exists()
    # An old-format file (format 1: header + joblib pickle) loads only with --allow-pickle.
    old = tmp_path / "old.joblib"
    header = {"format_version": 1, "skspeckle": __import__("skspeckle").__version__}
    with open(old, "wb") as f:
        f.write(b"skspeckle-model\n" + json.dumps(header).encode() + b"\n")
        joblib.dump(_Marker(marker), f)
    assert main([*argv, str(old)]) == 1
    assert "allow_pickle=True" in capsys.readouterr().err and not marker.exists()
    # With the opt-in the pickle is run (and the "model" then fails as a model, not as a file).
    assert main([*argv, str(old), "--allow-pickle"]) == 1
    assert marker.exists() and "_Marker has no predict method" in capsys.readouterr().err
