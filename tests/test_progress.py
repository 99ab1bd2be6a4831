"""tqdm progress bars (on stderr): fit epochs, batched inference, predict_file and classify;
quiet unless asked for in the library, on a terminal by default on the command line."""

import numpy as np
import torch

from skspeckle.cli import build_parser
from skspeckle.io.cxi import write_cxi
from skspeckle.nn.inference import predict_batched
from skspeckle.nn.training import train_module
from skspeckle.streaming import predict_file


def _train(**kwargs):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x.sum(axis=1)
    return train_module(
        torch.nn.Linear(3, 1),
        lambda m, b, gen: torch.mean((m(b[0]).squeeze(1) - b[1]) ** 2),
        lambda p: torch.optim.Adam(p, lr=0.05),
        (x, y),
        batch_size=16,
        max_epochs=3,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )


def test_fit_bar_shows_epochs_and_loss(capsys):
    history = _train(verbose=1, name="net")
    captured = capsys.readouterr()
    final = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("net: 100%") and "3/3" in final
    assert f"loss={history[-1]['loss']:.4f}" in final
    # The per-epoch lines are still printed, on stdout, above the bar.
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [
        "[net] epoch 1/3",
        "[net] epoch 2/3",
        "[net] epoch 3/3",
    ]
    _train(verbose=2)
    err = capsys.readouterr().err
    assert "epoch 1:" in err and "batch/s" in err and "val_loss" not in err  # the batch bar
    _train()
    assert capsys.readouterr() == ("", "")  # quiet by default


def test_inference_bar(capsys):
    module = torch.nn.Linear(3, 2)
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    out = predict_batched(module, X, 8, "cpu", progress=True)
    assert out.shape == (50, 2)
    err = capsys.readouterr().err
    assert "0/7 " in err and "batch/s" in err  # 7 batches of 8; removed when done
    predict_batched(module, X, 8, "cpu")
    assert capsys.readouterr().err == ""


def test_predict_file_bar(tmp_path, small_fitted_pipeline, capsys):
    pipe, X, _ = small_fitted_pipeline
    run = write_cxi(tmp_path / "run.cxi", X)
    predict_file(pipe, run, tmp_path / "a.h5", chunk_frames=10, progress=True)
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "predict_file: 100%" in err and f"{len(X)}/{len(X)}" in err
    # None: only on a terminal, and pytest's stderr is not one.
    predict_file(pipe, run, tmp_path / "b.h5", chunk_frames=10, progress=None)
    assert capsys.readouterr().err == ""


def test_classify_shows_the_bar_by_default():
    parser = build_parser()
    common = ["classify", "run.cxi", "--model", "m", "--out", "o.h5"]
    assert parser.parse_args(common).progress is True
    assert parser.parse_args([*common, "--no-progress"]).progress is False
