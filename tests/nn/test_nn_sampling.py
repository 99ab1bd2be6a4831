"""Batch samplers: shuffled, sequential, class-balanced, paired source / target."""

import torch

from skspeckle.nn.mining import positive_pairs
from skspeckle.nn.sampling import (
    balanced_batches,
    paired_batches,
    sequential_batches,
    shuffled_batches,
)


def test_batches_helpers():
    b = shuffled_batches(17, 8, torch.Generator().manual_seed(0))
    assert [len(x) for x in b] == [8, 9]  # the lone last sample joins the previous batch
    assert sorted(torch.cat(b).tolist()) == list(range(17))
    assert [len(x) for x in sequential_batches(5, 2)] == [2, 2, 1]


def test_balanced_batches_are_balanced_group_aware_and_unique():
    labels = torch.tensor([0] * 50 + [1] * 10 + [2] * 4)
    groups = torch.arange(64) % 3
    g = torch.Generator().manual_seed(0)
    batches = balanced_batches(labels, groups, batch_size=24, samples_per_cell=4, generator=g)
    assert len(batches) == 3
    for b in batches:
        assert len(b) == 24 and len(torch.unique(b)) == 24
        counts = torch.bincount(labels[b], minlength=3)
        assert counts[2] == 4  # the small class gives all it has ...
        assert abs(int(counts[0]) - int(counts[1])) <= 1  # ... and the others share the rest
        a, p = positive_pairs(labels[b], groups[b])
        assert len(a) > 0
    again = balanced_batches(
        labels,
        groups,
        batch_size=24,
        samples_per_cell=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert all(torch.equal(x, y) for x, y in zip(batches, again))


def test_balanced_batches_cover_minority_class_every_batch():
    labels = torch.tensor([0] * 90 + [1] * 6)
    batches = balanced_batches(labels, batch_size=16, generator=torch.Generator().manual_seed(1))
    assert len(batches) == 6
    assert all(int((labels[b] == 1).sum()) == 6 for b in batches)  # oversampled
    assert balanced_batches(torch.tensor([], dtype=torch.long), batch_size=4) == []
    small = balanced_batches(torch.tensor([0, 1, 1]), batch_size=64)
    assert len(small) == 1 and sorted(small[0].tolist()) == [0, 1, 2]


def test_paired_batches_half_source_half_cycled_target():
    batches = paired_batches(10, 3, 8, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [8, 8, 4]  # 4 source + 4 target, ..., 2 + 2
    source = torch.cat([b[: len(b) // 2] for b in batches])
    target = torch.cat([b[len(b) // 2 :] for b in batches])
    assert sorted(source.tolist()) == list(range(10))
    assert set(target.tolist()) == {10, 11, 12}  # the 3 targets, cycled
    again = paired_batches(10, 3, 8, torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(batches, again))
