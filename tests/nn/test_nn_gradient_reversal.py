"""The gradient-reversal layer and Ganin's schedule."""

import math

import pytest
import torch

from skspeckle.nn.gradient_reversal import GradientReversal, dann_lambda, grad_reverse


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 2.5])
def test_forward_is_identity_and_gradient_is_negated_and_scaled(lam):
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    out = grad_reverse(x, lam)
    assert torch.equal(out, x)
    (out * weights).sum().backward()
    assert torch.allclose(x.grad, -lam * weights)


def test_module_follows_its_lambda_attribute():
    layer = GradientReversal()
    x = torch.ones(2, requires_grad=True)
    layer.lambda_ = 0.5
    layer(x).sum().backward()
    assert torch.allclose(x.grad, torch.full((2,), -0.5))


def test_schedule_rises_from_zero_to_one():
    values = [dann_lambda(p) for p in (0.0, 0.1, 0.5, 1.0)]
    assert values[0] == 0.0
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(2 / (1 + math.exp(-10)) - 1)
