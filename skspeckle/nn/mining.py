"""Triplet mining over a batch distance matrix, and class-balanced batch sampling.

Anchor and positive share the label *and* the group (the single-particle sample, e.g. the PDB
entry or the experimental run); the negative has another label and may come from any group
(SpeckleNN Sec. III C, Fig. 3b). Everything is vectorised over the batch: the candidate
negatives of all (anchor, positive) pairs form one boolean ``(n_pairs, B)`` matrix, and the
choice among them is an ``argmax``/``argmin`` over its rows, so mining runs on the device of
the embeddings without a Python loop per anchor.
"""

import math
from collections import deque

import torch

__all__ = [
    "positive_pairs",
    "mine_triplets",
    "balanced_batches",
    "MINING_STRATEGIES",
]

MINING_STRATEGIES = ("semihard", "hard", "random", "all")


def _masks(labels, groups):
    same_label = labels[:, None] == labels[None, :]
    pos = same_label.clone()
    if groups is not None:
        pos &= groups[:, None] == groups[None, :]
    pos.fill_diagonal_(False)
    return pos, ~same_label


def positive_pairs(labels, groups=None):
    """All ordered (anchor, positive) index pairs of a batch.

    Parameters
    ----------
    labels : torch.Tensor of shape (B,), integer
    groups : torch.Tensor of shape (B,), integer, or None
        Sample (particle) ids; ``None`` puts the whole batch in one group.

    Returns
    -------
    anchors, positives : torch.Tensor of shape (n_pairs,), int64
        Pairs ``(i, j)``, ``i != j``, with equal label and equal group.
    """
    pos, _ = _masks(labels, groups)
    return pos.nonzero(as_tuple=True)


def _random_member(mask, generator):
    """Index of a uniformly random True entry of each row (arbitrary for empty rows)."""
    scores = torch.rand(mask.shape, generator=generator, device=mask.device)
    return torch.where(mask, scores, torch.full_like(scores, -1.0)).argmax(dim=1)


def mine_triplets(
    distances, labels, groups=None, *, strategy="semihard", margin=0.5, generator=None
):
    """Select (anchor, positive, negative) triplets from a batch.

    Parameters
    ----------
    distances : torch.Tensor of shape (B, B)
        Squared distances between the batch embeddings (see
        :func:`skspeckle.nn.distances.pairwise_squared_distances`); detach it first, mining
        needs no gradient.
    labels : torch.Tensor of shape (B,), integer
    groups : torch.Tensor of shape (B,), integer, or None
        Sample ids. Anchor and positive must share label and group; the negative only needs
        another label. ``None`` treats the batch as one group.
    strategy : {"semihard", "hard", "random", "all"}, default="semihard"
        For every (anchor, positive) pair that has at least one negative in the batch:

        - ``"semihard"`` (Schroff et al. 2015, FaceNet; SpeckleNN Sec. III C): a uniformly
          random negative with ``d(a,p) < d(a,n) < d(a,p) + margin``. Where a pair has none,
          the fallback (the rule of TensorFlow Addons' ``triplet_semihard_loss``) is the
          hardest negative farther than the positive (the closest of the easy ones, which
          contributes zero loss), and, when every negative is at most as far as the
          positive, the easiest hard negative (the farthest of them).
        - ``"hard"``: the closest negative.
        - ``"random"``: a uniformly random negative.
        - ``"all"``: every valid triplet (B^3 memory; use it on small batches, e.g. for a
          deterministic validation loss).
    margin : float, default=0.5
        The margin alpha, used by ``"semihard"`` only.
    generator : torch.Generator or None
        Source of randomness for ``"semihard"`` and ``"random"``; it must live on the same
        device as ``distances``. ``None`` uses torch's global generator.

    Returns
    -------
    anchors, positives, negatives : torch.Tensor of shape (n_triplets,), int64
        Indices into the batch, on the device of ``distances``. Pairs without any negative
        (a batch with a single label) are dropped, so ``n_triplets`` may be 0.
    """
    if strategy not in MINING_STRATEGIES:
        raise ValueError(f"strategy must be one of {MINING_STRATEGIES}; got {strategy!r}.")
    labels = labels.to(distances.device)
    groups = None if groups is None else groups.to(distances.device)
    pos, neg = _masks(labels, groups)
    if strategy == "all":
        return (pos[:, :, None] & neg[:, None, :]).nonzero(as_tuple=True)

    anchors, positives = pos.nonzero(as_tuple=True)
    neg_rows = neg[anchors]  # (n_pairs, B)
    has_negative = neg_rows.any(dim=1)
    anchors, positives = anchors[has_negative], positives[has_negative]
    neg_rows = neg_rows[has_negative]
    d_an = distances[anchors]  # (n_pairs, B)
    if strategy == "random":
        return anchors, positives, _random_member(neg_rows, generator)
    inf = torch.full_like(d_an, math.inf)
    if strategy == "hard":
        return anchors, positives, torch.where(neg_rows, d_an, inf).argmin(dim=1)

    d_ap = distances[anchors, positives][:, None]
    farther = neg_rows & (d_an > d_ap)
    semihard = farther & (d_an < d_ap + margin)
    n_semihard = _random_member(semihard, generator)
    n_easy = torch.where(farther, d_an, inf).argmin(dim=1)  # hardest of the easy ones
    n_hard = torch.where(neg_rows, d_an, -inf).argmax(dim=1)  # easiest of the hard ones
    negatives = torch.where(
        semihard.any(dim=1), n_semihard, torch.where(farther.any(dim=1), n_easy, n_hard)
    )
    return anchors, positives, negatives


def balanced_batches(
    labels, groups=None, *, batch_size=64, samples_per_cell=8, n_batches=None, generator=None
):
    """Class-balanced, group-aware batches for triplet training (P classes x K samples).

    Each (label, group) *cell* is shuffled and cut into chunks of up to ``samples_per_cell``
    indices; the samples of a chunk are mutual positives. A batch gives every class an equal
    share of its ``batch_size`` slots (the remainder to randomly chosen classes; a class never
    contributes more distinct samples than it has), filled with the next chunks of that class
    (cycling through its cells in random order, reshuffled when used up). Minority classes are
    therefore oversampled, and every class is present in every batch when the batch holds at
    least one slot per class. No index repeats within a batch.

    Parameters
    ----------
    labels : torch.Tensor of shape (n,), integer
    groups : torch.Tensor of shape (n,), integer, or None
    batch_size : int, default=64
        Capped at ``n``.
    samples_per_cell : int, default=8
        K, the size of the chunks taken from one (label, group) cell.
    n_batches : int or None
        Batches to return; ``ceil(n / batch_size)`` (one epoch) by default.
    generator : torch.Generator or None
        CPU generator for the shuffling.

    Returns
    -------
    list of torch.Tensor of shape (batch_size,), int64 (CPU)
    """
    labels = torch.as_tensor(labels).cpu()
    n = labels.shape[0]
    if n == 0:
        return []
    groups = torch.zeros_like(labels) if groups is None else torch.as_tensor(groups).cpu()
    batch_size = max(1, min(int(batch_size), n))
    if n_batches is None:
        n_batches = math.ceil(n / batch_size)
    classes = torch.unique(labels)
    n_classes = len(classes)
    cells = {}  # class -> list of index tensors, one per group
    counts = []
    for c in classes.tolist():
        idx = (labels == c).nonzero(as_tuple=True)[0]
        g = groups[idx]
        cells[c] = [idx[g == v] for v in torch.unique(g).tolist()]
        counts.append(len(idx))
    queues = {c: deque() for c in cells}

    def refill(c):
        chunks = []
        for cell in cells[c]:
            cell = cell[torch.randperm(len(cell), generator=generator)]
            chunks.extend(torch.split(cell, samples_per_cell))
        order = torch.randperm(len(chunks), generator=generator).tolist()
        queues[c].extend(chunks[i] for i in order)

    class_list = classes.tolist()
    counts = torch.tensor(counts)
    batches = []
    for _ in range(n_batches):
        # Water-filling: equal shares, classes smaller than their share give all they have
        # and their spare slots go to the others; the last few slots to random classes.
        quota = torch.zeros(n_classes, dtype=torch.long)
        remaining = batch_size
        while remaining > 0:
            room = counts - quota
            open_ = (room > 0).nonzero(as_tuple=True)[0]
            share = remaining // len(open_)
            if share == 0:
                pick = open_[torch.randperm(len(open_), generator=generator)[:remaining]]
                quota[pick] += 1
                break
            give = torch.clamp(room[open_], max=share)
            quota[open_] += give
            remaining -= int(give.sum())
        parts = []
        for i, c in enumerate(class_list):
            need, taken, seen = int(quota[i]), [], set()
            while need > 0:
                if not queues[c]:
                    refill(c)
                chunk = queues[c].popleft()
                fresh = [j for j in chunk.tolist() if j not in seen]
                if len(fresh) > need:
                    # Put the unused rest back so that it starts the class's next batch.
                    queues[c].appendleft(torch.tensor(fresh[need:], dtype=torch.long))
                    fresh = fresh[:need]
                taken.extend(fresh)
                seen.update(fresh)
                need -= len(fresh)
            parts.append(torch.tensor(taken, dtype=torch.long))
        batch = torch.cat(parts)
        batches.append(batch[torch.randperm(len(batch), generator=generator)])
    return batches
