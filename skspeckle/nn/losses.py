"""Per-batch losses for :func:`skspeckle.nn.training.train_module`.

The triplet loss on unit-norm embeddings (SpeckleNN Sec. III B; Schroff et al. 2015), the
NT-Xent contrastive loss of self-supervised pretraining on unlabelled frames (SimCLR, Chen et
al. 2020), the weighted cross-entropy of the CNN classifiers, and the label-plus-domain loss of
domain-adversarial training (Ganin et al. 2016).
"""

import torch
from torch.nn import functional as F

from skspeckle.nn.distances import pairwise_squared_distances
from skspeckle.nn.gradient_reversal import dann_lambda
from skspeckle.nn.mining import mine_triplets

__all__ = [
    "TripletBatchLoss",
    "gather_rows",
    "triplet_loss",
    "nt_xent_loss",
    "NTXentBatchLoss",
    "weighted_cross_entropy",
    "cross_entropy_batch_loss",
    "DANNLoss",
]


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


def nt_xent_loss(z1, z2, temperature=0.1):
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR, over a batch of pairs.

    With ``z = [z1; z2]`` (2N rows, each L2-normalised here), ``s_ij = z_i . z_j`` (cosine
    similarity) and ``j(i)`` the other view of frame ``i``, the loss of row ``i`` is
    ``-log( exp(s_ij(i) / t) / sum_{k != i} exp(s_ik / t) )``: the other view is the positive,
    the 2N - 2 views of the other frames of the batch are the negatives. The result is the
    mean over all 2N rows (Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for
    Contrastive Learning of Visual Representations", ICML 2020, Eq. 1 and Algorithm 1).

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (N, d), floating point
        Embeddings of two views of the same N frames (row i of ``z1`` and of ``z2`` come from
        frame i). Need not be unit-norm: they are normalised here.
    temperature : float, default=0.1
        The temperature t (> 0); lower values weigh the hardest negatives more.

    Returns
    -------
    loss : torch.Tensor, scalar
        Mean over the 2N rows, in the dtype of the inputs. For N = 1 there is no negative
        and the loss is 0.

    Raises
    ------
    ValueError
        If ``z1`` and ``z2`` differ in shape or are not 2-D.
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must be 2-D of the same shape (N, d); got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}."
        )
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    # A row is never its own negative: its self-similarity leaves the softmax.
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    other_view = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, other_view)


class NTXentBatchLoss:
    """Per-batch NT-Xent loss (:func:`nt_xent_loss`) for
    :func:`skspeckle.nn.training.train_module`: self-supervised, no labels.

    Makes two random views of every frame of the batch with ``augment`` (two independent
    draws from the generator), embeds both in one forward pass (so batch normalisation sees
    all 2N views, as SimCLR's batch) and returns the loss of the pairs.

    Parameters
    ----------
    augment : callable
        ``augment(x, generator) -> x`` on the raw frames ``(B, H, W)``, e.g. a chain of
        :mod:`skspeckle.augmentation` steps.
    temperature : float, default=0.1

    Notes
    -----
    The batch is ``(x,)`` or ``(x, ...)``; only ``x`` is used. The metric ``positive_similarity``
    is the mean cosine similarity of the two views of a frame (1 when the network ignores the
    augmentation entirely).
    """

    def __init__(self, augment, temperature=0.1):
        self.augment = augment
        self.temperature = temperature

    def __call__(self, module, batch, generator=None):
        x = batch[0]
        views = torch.cat([self.augment(x, generator), self.augment(x, generator)])
        z = module(views)
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            z1, z2 = z[: len(x)], z[len(x) :]
            loss = nt_xent_loss(z1, z2, self.temperature)
            similarity = F.cosine_similarity(z1.detach(), z2.detach(), dim=1).mean()
        return loss, {"positive_similarity": similarity}


def weighted_cross_entropy(logits, target, weight):
    """Mean over the batch of ``weight * cross-entropy``, and the batch accuracy.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, n_outputs)
        One logit per class (softmax cross-entropy), or a single logit (binary cross-entropy
        on the positive class, target 1).
    target : torch.Tensor of shape (B,), int64
        Class indices.
    weight : torch.Tensor of shape (B,), float
        Weight of each frame in the mean (class and sample weights).

    Returns
    -------
    loss : torch.Tensor, scalar
    metrics : dict
        ``accuracy``: the fraction of frames whose most probable class is ``target``
        (detached).
    """
    if logits.shape[1] == 1:
        losses = F.binary_cross_entropy_with_logits(
            logits[:, 0], target.to(logits.dtype), reduction="none"
        )
        pred = (logits[:, 0] > 0).long()
    else:
        losses = F.cross_entropy(logits, target, reduction="none")
        pred = logits.argmax(dim=1)
    accuracy = (pred == target).float().mean().detach()
    return (losses * weight).mean(), {"accuracy": accuracy}


def cross_entropy_batch_loss(module, batch, generator=None):
    """:func:`weighted_cross_entropy` of ``module`` on a batch ``(x, target, weight)``, the
    ``loss_fn`` of the CNN classifiers."""
    x, target, weight = batch
    return weighted_cross_entropy(module(x), target, weight)


class DANNLoss:
    """Label cross-entropy on the source frames plus the domain cross-entropy on all frames.

    The module maps a batch to ``(label_logits, domain_logit)`` (e.g.
    :class:`skspeckle.nn.networks.dann.DANNModel`); the batch is ``(x, target, weight,
    domain)`` with ``domain`` 0 for source and 1 for target frames (whose ``target`` and
    ``weight`` are ignored). Before every training step the factor of ``reversal`` follows
    :func:`skspeckle.nn.gradient_reversal.dann_lambda` over the progress ``step / n_steps``
    (Ganin et al., JMLR 17(59), 2016, Sec. 5.2.2). The domain loss is added with weight 1;
    lambda only scales the reversed gradient.

    Parameters
    ----------
    reversal : skspeckle.nn.gradient_reversal.GradientReversal
        The layer whose ``lambda_`` the schedule sets.
    n_steps : int
        Training steps over which lambda rises from 0 to ~1 (at least 1).
    gamma : float
        Steepness of the schedule.

    Notes
    -----
    The metrics are the label ``accuracy`` and, when the batch holds target frames,
    ``domain_loss``, ``domain_accuracy`` and the current ``lambda``.
    """

    def __init__(self, reversal, n_steps, gamma):
        self.reversal, self.n_steps, self.gamma, self.step = reversal, max(1, n_steps), gamma, 0

    def __call__(self, module, batch, generator=None):
        x, target, weight, domain = batch
        if module.training:
            self.reversal.lambda_ = dann_lambda(min(1.0, self.step / self.n_steps), self.gamma)
            self.step += 1
        logits, domain_logit = module(x)
        source = domain == 0
        loss, metrics = weighted_cross_entropy(logits[source], target[source], weight[source])
        if bool((~source).any()):
            domain_loss = F.binary_cross_entropy_with_logits(domain_logit, domain.float())
            loss = loss + domain_loss
            metrics["domain_loss"] = domain_loss.detach()
            metrics["domain_accuracy"] = ((domain_logit > 0) == (domain == 1)).float().mean()
            metrics["lambda"] = self.reversal.lambda_
        return loss, metrics
