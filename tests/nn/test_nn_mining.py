import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skspeckle.nn.distances import pairwise_squared_distances
from skspeckle.nn.mining import (
    mine_triplets,
    positive_pairs,
)


def test_positive_pairs_respect_label_and_group():
    labels = torch.tensor([0, 0, 0, 1, 1])
    groups = torch.tensor([0, 0, 1, 0, 0])
    a, p = positive_pairs(labels, groups)
    assert sorted(zip(a.tolist(), p.tolist())) == [(0, 1), (1, 0), (3, 4), (4, 3)]
    a, p = positive_pairs(labels)
    assert len(a) == 3 * 2 + 2


def _check_valid(a, p, n, labels, groups):
    assert a.dtype == torch.int64 and a.shape == p.shape == n.shape
    assert torch.all(a != p)
    assert torch.all(labels[a] == labels[p])
    if groups is not None:
        assert torch.all(groups[a] == groups[p])
    assert torch.all(labels[a] != labels[n])


def _case(data):
    b = data.draw(st.integers(2, 14), label="batch")
    labels = torch.tensor(data.draw(st.lists(st.integers(0, 3), min_size=b, max_size=b)))
    groups = torch.tensor(data.draw(st.lists(st.integers(0, 2), min_size=b, max_size=b)))
    seed = data.draw(st.integers(0, 2**31 - 1))
    emb = torch.nn.functional.normalize(
        torch.randn(b, 3, generator=torch.Generator().manual_seed(seed)), dim=1
    )
    margin = data.draw(st.floats(0.01, 4.0))
    return labels, groups, emb, margin, seed


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_semihard_mining_returns_valid_triplets(data):
    labels, groups, emb, margin, seed = _case(data)
    d = pairwise_squared_distances(emb)
    a, p, n = mine_triplets(
        d,
        labels,
        groups,
        strategy="semihard",
        margin=margin,
        generator=torch.Generator().manual_seed(seed),
    )
    _check_valid(a, p, n, labels, groups)
    # Exactly one triplet per (anchor, positive) pair that has a negative in the batch.
    expected = {
        (i, j)
        for i, j in itertools.permutations(range(len(labels)), 2)
        if labels[i] == labels[j] and groups[i] == groups[j] and (labels != labels[i]).any()
    }
    assert set(zip(a.tolist(), p.tolist())) == expected and len(a) == len(expected)
    for i, j, k in zip(a.tolist(), p.tolist(), n.tolist()):
        negs = [m for m in range(len(labels)) if labels[m] != labels[i]]
        dap = d[i, j]
        semi = [m for m in negs if dap < d[i, m] < dap + margin]
        far = [m for m in negs if d[i, m] > dap]
        if semi:
            assert k in semi  # semi-hard condition whenever one exists
        elif far:
            assert d[i, k] == min(d[i, m] for m in far)  # hardest of the easy negatives
        else:
            assert d[i, k] == max(d[i, m] for m in negs)  # easiest of the hard negatives


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(["hard", "random", "all"]))
def test_other_strategies_return_valid_triplets(data, strategy):
    labels, groups, emb, margin, seed = _case(data)
    d = pairwise_squared_distances(emb)
    a, p, n = mine_triplets(
        d,
        labels,
        groups,
        strategy=strategy,
        margin=margin,
        generator=torch.Generator().manual_seed(seed),
    )
    _check_valid(a, p, n, labels, groups)
    if strategy == "hard":
        for i, k in zip(a.tolist(), n.tolist()):
            assert d[i, k] == min(d[i, m] for m in range(len(labels)) if labels[m] != labels[i])
    if strategy == "all":
        n_expected = sum(
            int((labels != labels[i]).sum())
            for i, j in itertools.permutations(range(len(labels)), 2)
            if labels[i] == labels[j] and groups[i] == groups[j]
        )
        assert len(a) == n_expected


def test_semihard_picks_random_semihard_negative():
    # anchor 0, positive 1 at distance 1; negatives at 0.5 (hard), 1.2, 1.3 (semi-hard), 3 (easy)
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    d = torch.zeros(6, 6)
    d[0, 1:] = torch.tensor([1.0, 0.5, 1.2, 1.3, 3.0])
    d = torch.maximum(d, d.T)
    picks = set()
    for seed in range(40):
        a, p, n = mine_triplets(
            d,
            labels,
            strategy="semihard",
            margin=0.5,
            generator=torch.Generator().manual_seed(seed),
        )
        picks.add(int(n[(a == 0) & (p == 1)]))
    assert picks == {3, 4}


def test_semihard_fallbacks():
    labels = torch.tensor([0, 0, 1, 1])
    d = torch.zeros(4, 4)
    d[0, 1:] = torch.tensor([1.0, 2.0, 3.0])  # both negatives easy for margin 0.5
    d = torch.maximum(d, d.T)
    a, p, n = mine_triplets(d, labels, strategy="semihard", margin=0.5)
    assert int(n[(a == 0) & (p == 1)]) == 2  # closest easy one
    d2 = torch.zeros(4, 4)
    d2[0, 1:] = torch.tensor([3.0, 1.0, 2.0])  # both negatives hard
    d2 = torch.maximum(d2, d2.T)
    a, p, n = mine_triplets(d2, labels, strategy="semihard", margin=0.5)
    assert int(n[(a == 0) & (p == 1)]) == 3  # farthest hard one


def test_mining_single_class_or_no_positive_gives_no_triplets():
    d = torch.rand(4, 4)
    for labels, groups in [
        (torch.zeros(4, dtype=torch.long), None),
        (torch.tensor([0, 0, 1, 1]), torch.arange(4)),
    ]:
        for strategy in ("semihard", "hard", "random", "all"):
            a, p, n = mine_triplets(d, labels, groups, strategy=strategy)
            assert a.numel() == p.numel() == n.numel() == 0


def test_mining_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        mine_triplets(torch.zeros(2, 2), torch.tensor([0, 1]), strategy="easy")
