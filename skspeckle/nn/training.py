"""A generic mini-batch training loop with validation and early stopping.

Not specific to triplets: the loss is a callable on a batch, so the CNN baselines reuse it.
"""

import copy
import math
import time

import torch
from tqdm import tqdm

from skspeckle.nn.device import autocast
from skspeckle.nn.sampling import sequential_batches, shuffled_batches

__all__ = ["train_module", "adam"]


def adam(lr):
    """An ``optimizer_factory`` for :func:`train_module`: Adam (Kingma & Ba, ICLR 2015) at
    learning rate ``lr`` over the parameters that require gradients.

    On CPU and CUDA it uses torch's fused implementation, one kernel for all parameters: the
    same update up to rounding, and a faster step than the default per-parameter loop
    (``benchmarks/speed/training_speed.py`` measures both; figures in ``docs/results.md``).
    """

    def factory(params):
        params = [p for p in params if p.requires_grad]
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=lr, fused=fused)

    return factory


def _to_float(value):
    return float(value.item()) if torch.is_tensor(value) else float(value)


class _Accumulator:
    """Weighted means of metrics and sums of counts (``n_*`` keys), kept on the device until
    the end of the epoch so that a GPU is not synchronised per batch."""

    def __init__(self):
        self.weighted, self.summed, self.weight, self.n_samples = {}, {}, 0.0, 0

    def add(self, loss, metrics, n_samples):
        metrics = dict(metrics)
        w = metrics.pop("weight", n_samples)
        w = _to_float(w)
        self.n_samples += n_samples
        if w <= 0:
            for key, value in metrics.items():
                if key.startswith("n_"):
                    self.summed[key] = self.summed.get(key, 0) + value
            return
        self.weight += w
        for key, value in {"loss": loss.detach(), **metrics}.items():
            if key.startswith("n_"):
                self.summed[key] = self.summed.get(key, 0) + value
            else:
                self.weighted[key] = self.weighted.get(key, 0.0) + value * w

    def result(self, prefix=""):
        out = {}
        for key, value in self.weighted.items():
            out[prefix + key] = _to_float(value) / self.weight
        if "loss" not in self.weighted:
            out[prefix + "loss"] = math.nan if self.n_samples == 0 else 0.0
        for key, value in self.summed.items():
            out[prefix + key] = int(_to_float(value))
        return out


def _split_output(out):
    if isinstance(out, tuple):
        return out[0], (out[1] if len(out) > 1 and out[1] is not None else {})
    return out, {}


def _take(data, idx, device):
    return tuple(t[idx.to(t.device)].to(device, non_blocking=True) for t in data)


def train_module(
    module,
    loss_fn,
    optimizer_factory,
    train_data,
    *,
    batch_size=64,
    max_epochs=10,
    val_data=None,
    val_loss_fn=None,
    val_batches=None,
    n_iter_no_change=None,
    tol=0.0,
    generator=None,
    augment=None,
    batch_sampler=None,
    device="cpu",
    restore_best=True,
    precision="float32",
    verbose=0,
    log=print,
    name="",
):
    """Train ``module`` for up to ``max_epochs`` epochs and return the per-epoch history.

    Parameters
    ----------
    module : torch.nn.Module
        Moved to ``device`` and left there (the caller moves it back).
    loss_fn : callable
        ``loss_fn(module, batch, generator) -> loss`` or ``-> (loss, metrics)``, with
        ``batch`` the tuple of the ``train_data`` tensors indexed by the batch and moved to
        ``device`` (after ``augment`` was applied to ``batch[0]``), ``generator`` a
        torch.Generator on ``device``, ``loss`` a scalar tensor and ``metrics`` a dict of
        scalars. Metric keys starting with ``n_`` are summed over the epoch (and reported as
        ``<name>_per_s`` throughput), others averaged; a ``weight`` entry sets the batch's
        weight in those averages (the batch size by default). A loss without gradient (e.g.
        no triplets in the batch) skips the optimiser step.
    optimizer_factory : callable
        ``optimizer_factory(parameters) -> torch.optim.Optimizer``.
    train_data : tuple of torch.Tensor
        Tensors of equal length; the first is the model input.
    batch_size : int, default=64
    max_epochs : int, default=10
        0 returns an empty history and leaves the module untrained.
    val_data : tuple of torch.Tensor or None
        Validation tensors, evaluated after each epoch in eval mode without gradient.
    val_loss_fn : callable or None
        Loss for the validation batches; ``loss_fn`` by default.
    val_batches : list of torch.Tensor or None
        Fixed index batches into ``val_data``; consecutive chunks of ``batch_size`` by
        default. The validation generator is reseeded identically every epoch, so the
        validation loss of a fixed model is the same every epoch.
    n_iter_no_change : int or None
        Stop when the monitored loss (validation loss if ``val_data`` is given, training loss
        otherwise) has not improved by more than ``tol`` for this many epochs. ``None`` runs
        all ``max_epochs``.
    tol : float, default=0.0
    generator : torch.Generator or None
        CPU generator for the batch order; the device generator handed to ``loss_fn`` and
        ``augment`` is seeded from it. ``None`` draws from torch's global generator.
    augment : callable or None
        ``augment(x, generator) -> x`` applied to the input of every training batch (on
        ``device``), never to validation batches.
    batch_sampler : callable or None
        ``batch_sampler(generator) -> list of index tensors`` for one epoch; shuffled batches
        of ``batch_size`` by default
        (:func:`skspeckle.nn.sampling.shuffled_batches`).
    device : torch.device or str, default="cpu"
    restore_best : bool, default=True
        With ``val_data``, load the weights of the epoch with the best validation loss at the
        end.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Compute precision of ``loss_fn`` (see :func:`skspeckle.nn.device.autocast`); with
        ``"float16"`` the loss is scaled against gradient underflow
        (:class:`torch.amp.GradScaler`).
    verbose : int, default=0
        1: a progress bar over the epochs (tqdm, on stderr: loss, validation loss, ETA) and
        one line per epoch (loss, validation loss, elapsed time, throughput); 2: also a bar
        over the batches of each epoch.
    log : callable, default=print
    name : str, default=""
        Prefix of the progress lines.

    Returns
    -------
    history : list of dict
        One dict per epoch run with ``epoch`` (1-based), ``loss``, the averaged and summed
        metrics, ``val_loss`` and ``val_<metric>`` (when ``val_data`` is given; ``nan``
        otherwise), ``n_steps`` (optimiser steps), ``n_samples``, ``seconds`` (wall time of
        the epoch, validation included), ``samples_per_s`` and ``<count>_per_s``
        (training throughput), and ``best`` (whether the monitored loss improved).
    """
    device = torch.device(device)
    module.to(device)
    n_train = len(train_data[0])
    if batch_sampler is None:

        def batch_sampler(gen):
            return shuffled_batches(n_train, batch_size, gen)

    val_loss_fn = loss_fn if val_loss_fn is None else val_loss_fn
    if val_data is not None and val_batches is None:
        val_batches = sequential_batches(len(val_data[0]), batch_size)

    def _seed():
        return int(torch.randint(0, 2**62, (1,), generator=generator).item())

    dev_gen = torch.Generator(device=device)
    dev_gen.manual_seed(_seed())
    val_seed = _seed()
    optimizer = optimizer_factory(module.parameters())
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "float16")
    history, best, best_state, stall = [], math.inf, None, 0
    prefix = f"[{name}] " if name else ""
    start = time.perf_counter()
    # Closed after the loop; on an exception, tqdm closes it when it is collected.
    bar = tqdm(total=max_epochs, desc=name or "fit", unit="epoch", disable=verbose < 1)
    if log is print:
        log = bar.write  # printed above the bar instead of through it

    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        module.train()
        acc, n_steps = _Accumulator(), 0
        batches = batch_sampler(generator)
        in_epoch = tqdm(
            batches, desc=f"epoch {epoch}", unit="batch", leave=False, disable=verbose < 2
        )
        for idx in in_epoch:
            batch = _take(train_data, idx, device)
            if augment is not None:
                batch = (augment(batch[0], dev_gen),) + batch[1:]
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):
                loss, metrics = _split_output(loss_fn(module, batch, dev_gen))
            if loss.requires_grad:
                scaler.scale(loss).backward()
                scaler.step(optimizer)  # skipped if float16 gradients overflowed
                scaler.update()
                n_steps += 1
            acc.add(loss, metrics, len(idx))
        train_seconds = time.perf_counter() - t0
        record = {"epoch": epoch, **acc.result()}
        record["n_steps"] = n_steps
        record["n_samples"] = acc.n_samples

        if val_data is not None:
            module.eval()
            val_gen = torch.Generator(device=device)
            val_gen.manual_seed(val_seed)
            vacc = _Accumulator()
            with torch.no_grad(), autocast(device, precision):
                for idx in val_batches:
                    batch = _take(val_data, idx, device)
                    loss, metrics = _split_output(val_loss_fn(module, batch, val_gen))
                    vacc.add(loss, metrics, len(idx))
            record.update(vacc.result(prefix="val_"))
        else:
            record["val_loss"] = math.nan

        seconds = time.perf_counter() - t0
        record["seconds"] = seconds
        rate = max(train_seconds, 1e-9)
        record["samples_per_s"] = acc.n_samples / rate
        for key, value in list(record.items()):
            if key.startswith("n_") and key not in ("n_steps", "n_samples"):
                record[f"{key[2:]}_per_s"] = value / rate

        monitored = record["val_loss"] if val_data is not None else record["loss"]
        improved = monitored < best - tol
        record["best"] = bool(improved)
        if improved:
            best, stall = monitored, 0
            if restore_best and val_data is not None:
                best_state = copy.deepcopy(module.state_dict())
        else:
            stall += 1
        history.append(record)
        bar.update()
        shown = ("loss", "val_loss") if val_data is not None else ("loss",)
        bar.set_postfix({k: f"{record[k]:.4f}" for k in shown})

        if verbose >= 1:
            extra = "".join(
                f", {k}={record[k]:.3g}"
                for k in record
                if k.endswith("_per_s") or k == "active_fraction"
            )
            val = f", val_loss={record['val_loss']:.4f}" if val_data is not None else ""
            log(
                f"{prefix}epoch {epoch}/{max_epochs}: loss={record['loss']:.4f}{val}{extra}, "
                f"{seconds:.2f} s (total {time.perf_counter() - start:.1f} s)"
            )
        if n_iter_no_change is not None and stall >= n_iter_no_change:
            if verbose >= 1:
                monitored_name = "validation" if val_data is not None else "training"
                log(
                    f"{prefix}no improvement of the {monitored_name} loss by more than "
                    f"tol={tol} for {n_iter_no_change} epochs; stopping."
                )
            break

    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    return history
