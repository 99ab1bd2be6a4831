"""Index batches for the training loop: shuffled, in order, class-balanced, paired domains.

Every sampler returns one epoch as a list of int64 index tensors on the CPU, drawn from a CPU
``torch.Generator``, for :func:`skspeckle.nn.training.train_module` (its ``batch_sampler``).
"""

import math
from collections import deque

import torch

__all__ = ["shuffled_batches", "sequential_batches", "balanced_batches", "paired_batches"]


def shuffled_batches(n, batch_size, generator=None):
    """One epoch of shuffled index batches; a trailing batch of one sample is merged into the
    previous batch (batch normalisation cannot train on a single sample)."""
    perm = torch.randperm(n, generator=generator)
    batches = list(torch.split(perm, max(1, int(batch_size))))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = torch.cat(batches[-2:])
        batches.pop()
    return batches


def sequential_batches(n, batch_size):
    """Index batches ``0..n`` in order (for evaluation)."""
    return list(torch.split(torch.arange(n), max(1, int(batch_size))))


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


def paired_batches(n_source, n_target, batch_size, generator=None):
    """Batches of half source, half target indices, for domain-adversarial training.

    The source indices ``0..n_source`` are shuffled once per epoch (as in
    :func:`shuffled_batches` with ``batch_size // 2``); the target indices ``n_source ..
    n_source + n_target`` are cycled in one shuffled order, so that every batch holds as many
    target as source frames, whatever the sizes of the two sets.

    Parameters
    ----------
    n_source, n_target : int
        Numbers of source and target frames; the targets follow the sources in the data.
    batch_size : int
        Frames per batch; ``max(2, batch_size // 2)`` from each domain.
    generator : torch.Generator or None
        CPU generator for the shuffling.

    Returns
    -------
    list of torch.Tensor, int64 (CPU)
        One batch per source batch: its source indices, then as many target indices.

    Examples
    --------
    >>> import torch
    >>> from skspeckle.nn.sampling import paired_batches
    >>> batches = paired_batches(4, 3, 4, torch.Generator().manual_seed(0))
    >>> [sorted(int(i) < 4 for i in b) for b in batches]
    [[False, False, True, True], [False, False, True, True]]
    """
    half = max(2, batch_size // 2)
    source = shuffled_batches(n_source, half, generator)
    order = torch.randperm(n_target, generator=generator)
    need = sum(min(half, len(b)) for b in source)
    target = order.repeat(need // n_target + 1)[:need] + n_source
    out, start = [], 0
    for b in source:
        k = min(half, len(b))
        out.append(torch.cat([b, target[start : start + k]]))
        start += k
    return out
