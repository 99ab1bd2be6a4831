"""The gradient-reversal layer of domain-adversarial training (Ganin et al., "Domain-Adversarial
Training of Neural Networks", JMLR 17(59), 2016, Sec. 5 and Eq. 13).

Identity in the forward pass; in the backward pass the gradient is multiplied by ``-lambda``,
so that the layers before it learn to *increase* the loss of the domain classifier after it
(features the domain classifier cannot tell apart), while that classifier learns to decrease it.
"""

import math

import torch
from torch import nn

__all__ = ["GradientReversal", "grad_reverse", "dann_lambda"]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambda_):
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambda_ * grad_output, None


def grad_reverse(x, lambda_=1.0):
    """Identity on ``x`` whose gradient is multiplied by ``-lambda_``.

    Parameters
    ----------
    x : torch.Tensor
    lambda_ : float, default=1.0
        Non-negative scale of the reversed gradient.

    Returns
    -------
    torch.Tensor
        Same values and shape as ``x``.
    """
    return _GradReverse.apply(x, float(lambda_))


class GradientReversal(nn.Module):
    """:func:`grad_reverse` as a module; set ``lambda_`` between steps to follow a schedule
    such as :func:`dann_lambda`."""

    def __init__(self, lambda_=1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x):
        return grad_reverse(x, self.lambda_)

    def extra_repr(self):
        return f"lambda_={self.lambda_}"


def dann_lambda(progress, gamma=10.0):
    """Ganin et al.'s adaptation-factor schedule ``2 / (1 + exp(-gamma p)) - 1``.

    Parameters
    ----------
    progress : float in [0, 1]
        Fraction ``p`` of the training done.
    gamma : float, default=10.0
        Steepness (10 in the paper).

    Returns
    -------
    float
        0 at ``p = 0``, rising to ~1 at ``p = 1``: the domain signal is suppressed while the
        features are still noise.
    """
    return 2.0 / (1.0 + math.exp(-gamma * float(progress))) - 1.0
