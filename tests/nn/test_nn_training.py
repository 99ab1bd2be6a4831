import copy
import math
import warnings

import pytest
import torch

from skspeckle.nn.training import adam, train_module


def _regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.01 * torch.randn(n, generator=g)
    return x, y


def _mse(module, batch, generator):
    x, y = batch
    return torch.mean((module(x).squeeze(1) - y) ** 2), {"n_seen": len(y)}


def _fit(**kwargs):
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    x, y = _regression()
    history = train_module(
        module,
        _mse,
        lambda p: torch.optim.Adam(p, lr=0.05),
        (x, y),
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    return module, history


def test_loss_decreases_and_history_contents():
    _, history = _fit(max_epochs=20)
    assert len(history) == 20
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]
    h = history[0]
    for key in (
        "epoch",
        "loss",
        "val_loss",
        "n_steps",
        "n_samples",
        "seconds",
        "samples_per_s",
        "n_seen",
        "seen_per_s",
        "best",
    ):
        assert key in h
    assert h["epoch"] == 1 and h["n_steps"] == 4 and h["n_samples"] == 64 and h["n_seen"] == 64
    assert math.isnan(h["val_loss"])


def test_zero_epochs_and_determinism():
    module, history = _fit(max_epochs=0)
    assert history == []
    m1, h1 = _fit(max_epochs=3)
    m2, h2 = _fit(max_epochs=3)
    assert torch.equal(m1.weight, m2.weight)
    assert [h["loss"] for h in h1] == [h["loss"] for h in h2]


def test_early_stopping_on_validation_restores_best():
    xv, yv = _regression(32, seed=1)
    yv = -yv  # a validation set the model gets worse on: best epoch is early
    module, history = _fit(max_epochs=50, val_data=(xv, yv), n_iter_no_change=3, tol=0.0)
    assert len(history) < 50
    best = min(h["val_loss"] for h in history)
    with torch.no_grad():
        restored = torch.mean((module(xv).squeeze(1) - yv) ** 2).item()
    assert restored == pytest.approx(best, rel=1e-5)
    assert sum(h["best"] for h in history[-3:]) == 0


def test_augment_called_on_training_batches_only_and_verbose(capsys):
    calls = []

    def augment(x, generator):
        calls.append(x.shape[0])
        return x + 0.0 * torch.rand(x.shape, generator=generator)

    xv, yv = _regression(8, seed=2)
    _, history = _fit(max_epochs=2, augment=augment, val_data=(xv, yv), verbose=2, name="test")
    assert calls == [16] * 8  # 4 batches x 2 epochs, never the validation set
    out = capsys.readouterr().out
    assert "[test] epoch 2/2" in out and "val_loss" in out and "samples_per_s" in out


def test_step_skipped_without_gradient():
    module = torch.nn.Linear(3, 1)
    before = module.weight.detach().clone()
    x, y = _regression()
    history = train_module(
        module,
        lambda m, b, g: torch.zeros(()),
        lambda p: torch.optim.Adam(p),
        (x, y),
        max_epochs=2,
        n_iter_no_change=1,
    )
    assert torch.equal(module.weight, before)
    assert history[0]["n_steps"] == 0 and len(history) == 2  # stalls after epoch 2


def test_adam_is_fused_on_cpu_skips_frozen_parameters_and_matches_torch_adam():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    net[0].bias.requires_grad_(False)
    reference, initial = copy.deepcopy(net), copy.deepcopy(net)
    ours = adam(1e-2)(net.parameters())
    assert ours.defaults["fused"] is True
    assert sum(len(g["params"]) for g in ours.param_groups) == 3  # the frozen bias is left out
    theirs = torch.optim.Adam([p for p in reference.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randn(16, 6)
    for _ in range(5):
        for model, opt in ((net, ours), (reference, theirs)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(net[2].weight, initial[2].weight)  # it did train
    assert torch.equal(net[0].bias, initial[0].bias)  # but not the frozen bias


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_training_runs_the_loss_in_16_bit_and_learns(precision):
    seen = []

    def mse(module, batch, generator):
        x, y = batch
        out = module(x).squeeze(1)
        seen.append(out.dtype)
        return torch.mean((out.float() - y) ** 2)

    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    x, y = _regression()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "precision='float16' on the CPU", UserWarning)
        history = train_module(
            module,
            mse,
            adam(0.05),
            (x, y),
            batch_size=16,
            max_epochs=30,
            val_data=(x, y),
            generator=torch.Generator().manual_seed(0),
            precision=precision,
        )
    assert set(seen) == {getattr(torch, precision)}
    assert module.weight.dtype == torch.float32
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]  # float16 loss scaling works too
    torch.testing.assert_close(
        module.weight.detach().squeeze(), torch.tensor([1.0, -2.0, 0.5]), atol=0.1, rtol=0
    )
