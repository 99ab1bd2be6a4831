import torch

from skspeckle.nn.distances import pairwise_squared_distances


def test_pairwise_squared_distances_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(7, 5, generator=g, dtype=torch.float64)
    d = pairwise_squared_distances(e)
    brute = torch.tensor(
        [[float(((e[i] - e[j]) ** 2).sum()) for j in range(7)] for i in range(7)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(d, brute)
    assert torch.all(d.diagonal() == 0) and torch.all(d >= 0)
    assert torch.equal(d, d.T)


def test_pairwise_squared_distances_is_differentiable():
    e = torch.randn(4, 3, requires_grad=True)
    pairwise_squared_distances(e).sum().backward()
    assert e.grad is not None and torch.isfinite(e.grad).all()
