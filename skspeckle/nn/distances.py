"""Distances between embeddings, shared by triplet mining, the losses and the benchmarks.

>>> import torch
>>> e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
>>> pairwise_squared_distances(e).tolist()
[[0.0, 2.0, 4.0], [2.0, 0.0, 2.0], [4.0, 2.0, 0.0]]
"""

import torch

__all__ = ["pairwise_squared_distances"]


def pairwise_squared_distances(embeddings):
    """Squared Euclidean distances between all rows of ``embeddings``.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (B, d)

    Returns
    -------
    torch.Tensor of shape (B, B)
        ``D[i, j] = ||e_i - e_j||^2``, clamped at 0 against round-off, exactly symmetric
        with a zero diagonal. Differentiable.
    """
    sq = embeddings.pow(2).sum(dim=1)
    gram = embeddings @ embeddings.T
    d = torch.clamp(sq[:, None] + sq[None, :] - 2.0 * gram, min=0.0)
    d = 0.5 * (d + d.T)  # exactly symmetric despite the matmul's round-off
    return d * (1.0 - torch.eye(d.shape[0], dtype=d.dtype, device=d.device))
