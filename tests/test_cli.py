"""``skspeckle classify``: results file, exit codes and one-line errors without tracebacks."""

import subprocess
import sys
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
    model = save_model(pipe, directory / "model.joblib")
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
