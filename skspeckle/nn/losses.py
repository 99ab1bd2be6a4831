"""The triplet loss on unit-norm embeddings (SpeckleNN Sec. III B; Schroff et al. 2015)."""

import torch
from torch.nn import functional as F

from skspeckle.nn.distances import pairwise_squared_distances
from skspeckle.nn.mining import mine_triplets

__all__ = ["TripletBatchLoss", "gather_rows", "triplet_loss"]


def gather_rows(x, index):
    """``x[index]`` along the first dimension, with a backward pass that is reproducible.

    The backward of a row gather adds up the gradients of the rows picked more than once (a
    negative serves many anchors). Which op does that bit-reproducibly depends on the device
    (PyTorch documentation of ``torch.use_deterministic_algorithms``, list of
    normally-nondeterministic operations):

    - CPU: advanced indexing backpropagates through ``index_put_(accumulate=True)``. With more
      than one thread and at least 32,768 elements of gradient (e.g. 256 triplets of 128-d
      embeddings) it splits the work over threads that add with atomic float additions, so
      the summation order, and the last bits of the gradient, change from call to call.
      ``index_select`` backpropagates through ``index_add_``, which adds the rows one index
      after another.
    - CUDA: the other way round: ``index_add_`` uses atomic additions, while the backward of
      advanced indexing sorts the indices first.

    Parameters
    ----------
    x : torch.Tensor of shape (B, ...)
    index : torch.Tensor of shape (n,), int64
        Row indices into ``x``, on the device of ``x``; repetitions allowed.

    Returns
    -------
    torch.Tensor of shape (n, ...)
        The same values as ``x[index]``.
    """
    if x.device.type == "cpu":
        return x.index_select(0, index)
    return x[index]


def triplet_loss(embeddings, anchors, positives, negatives, margin=0.5):
    """Mean triplet loss ``[||f(a)-f(p)||^2 - ||f(a)-f(n)||^2 + margin]_+`` over triplets.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (B, d)
        Unit-norm embeddings of the batch (squared distances then lie in [0, 4], hence
        ``0 < margin <= 4``).
    anchors, positives, negatives : torch.Tensor of shape (n_triplets,), int64
        Indices into ``embeddings``, e.g. from :func:`skspeckle.nn.mining.mine_triplets`.
    margin : float, default=0.5
        The margin alpha.

    Returns
    -------
    loss : torch.Tensor, scalar
        Mean over the triplets; a zero tensor *without* gradient when there are no
        triplets (callers skip the optimiser step then).
    active_fraction : torch.Tensor, scalar
        Fraction of triplets with a non-zero loss (0 when there are none); detached.
    """
    if anchors.numel() == 0:
        zero = embeddings.new_zeros(())
        return zero.detach(), zero.detach()
    e_a = gather_rows(embeddings, anchors)
    d_ap = (e_a - gather_rows(embeddings, positives)).pow(2).sum(dim=1)
    d_an = (e_a - gather_rows(embeddings, negatives)).pow(2).sum(dim=1)
    losses = F.relu(d_ap - d_an + margin)
    return losses.mean(), (losses > 0).float().mean().detach()


class TripletBatchLoss:
    """Per-batch loss callable for :func:`skspeckle.nn.training.train_module`.

    Embeds the batch, mines triplets on the detached distance matrix and returns the mean
    triplet loss with the metrics ``active_fraction`` and ``n_triplets``.

    Parameters
    ----------
    margin : float
    strategy : {"semihard", "hard", "random", "all"}
        Mining strategy, see :func:`skspeckle.nn.mining.mine_triplets`.

    Notes
    -----
    The batch is ``(x, labels, groups)`` with ``groups`` possibly absent. The returned
    ``weight`` (the number of triplets) makes the training loop report the epoch loss as the
    mean over all triplets of the epoch.
    """

    def __init__(self, margin=0.5, strategy="semihard"):
        self.margin = margin
        self.strategy = strategy

    def __call__(self, module, batch, generator=None):
        x, labels = batch[0], batch[1]
        groups = batch[2] if len(batch) > 2 else None
        embeddings = module(x)
        # Distances, mining and loss in float32 even when the network ran under autocast.
        with torch.autocast(embeddings.device.type, enabled=False):
            return self._loss(embeddings.float(), labels, groups, generator)

    def _loss(self, embeddings, labels, groups, generator):
        with torch.no_grad():
            distances = pairwise_squared_distances(embeddings.detach())
            a, p, n = mine_triplets(
                distances,
                labels,
                groups,
                strategy=self.strategy,
                margin=self.margin,
                generator=generator,
            )
        loss, active = triplet_loss(embeddings, a, p, n, self.margin)
        # "weight" makes the training loop average the loss over triplets, not batches.
        return loss, {"active_fraction": active, "n_triplets": a.numel(), "weight": a.numel()}
