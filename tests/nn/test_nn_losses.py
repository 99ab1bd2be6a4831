import math

import pytest
import torch

from skspeckle.nn.gradient_reversal import GradientReversal, dann_lambda
from skspeckle.nn.losses import (
    DANNLoss,
    NTXentBatchLoss,
    TripletBatchLoss,
    cross_entropy_batch_loss,
    nt_xent_loss,
    triplet_loss,
    weighted_cross_entropy,
)


def test_triplet_loss_by_hand():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
    # d(0,1) = 2, d(0,2) = 4, d(0,3) = 0.16 + 0.64 = 0.8
    a, p, n = torch.tensor([0, 0, 0]), torch.tensor([1, 1, 3]), torch.tensor([2, 3, 2])
    loss, active = triplet_loss(e, a, p, n, margin=0.5)
    # [2 - 4 + .5]+ = 0 ; [2 - .8 + .5]+ = 1.7 ; [.8 - 4 + .5]+ = 0
    assert loss.item() == pytest.approx(1.7 / 3)
    assert active.item() == pytest.approx(1 / 3)


def test_triplet_loss_margin_bound_and_gradient():
    e = torch.nn.functional.normalize(torch.randn(6, 4), dim=1).requires_grad_()
    a, p, n = torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 3])
    loss, active = triplet_loss(e, a, p, n, margin=4.0)  # d(a,p)=0 -> loss 4 - d(a,n) > 0
    assert 0 < loss.item() <= 4 and active.item() == 1.0
    loss.backward()
    assert e.grad.abs().sum() > 0


def test_triplet_loss_no_triplets_is_zero_without_grad():
    e = torch.randn(3, 2, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss, active = triplet_loss(e, empty, empty, empty)
    assert loss.item() == 0 and active.item() == 0 and not loss.requires_grad


def test_triplet_batch_loss_reports_metrics():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(6, 2, 2)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    loss, metrics = TripletBatchLoss(0.5, "all")(
        lambda t: torch.nn.functional.normalize(net(t)), (x, labels)
    )
    assert (
        metrics["n_triplets"] == 6 * 2 * 3 // 1 // 1 and metrics["weight"] == metrics["n_triplets"]
    )
    assert 0 <= float(metrics["active_fraction"]) <= 1 and loss.requires_grad


def test_weighted_cross_entropy_one_logit_is_binary_and_weights_scale_the_mean():
    logits = torch.tensor([[2.0], [-1.0], [0.5]])
    target = torch.tensor([1, 0, 0])
    loss, metrics = weighted_cross_entropy(logits, target, torch.tensor([1.0, 1.0, 2.0]))
    per_frame = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], target.float(), reduction="none"
    )
    assert torch.allclose(loss, (per_frame * torch.tensor([1.0, 1.0, 2.0])).mean())
    assert float(metrics["accuracy"]) == pytest.approx(2 / 3)
    two = torch.tensor([[0.0, 3.0], [1.0, 0.0]])
    loss2, _ = cross_entropy_batch_loss(lambda x: x, (two, torch.tensor([1, 0]), torch.ones(2)))
    assert torch.allclose(loss2, torch.nn.functional.cross_entropy(two, torch.tensor([1, 0])))


def test_dann_loss_follows_the_lambda_schedule_and_adds_the_domain_loss():
    reversal = GradientReversal(0.0)

    class Model(torch.nn.Module):
        def forward(self, x):
            return x[:, :2], x[:, 2]

    model = Model().train()
    loss_fn = DANNLoss(reversal, n_steps=4, gamma=10.0)
    x = torch.tensor([[1.0, 0.0, -2.0], [0.0, 1.0, -1.0], [0.5, 0.5, 2.0], [0.1, 0.2, 1.0]])
    batch = (x, torch.tensor([0, 1, 0, 0]), torch.ones(4), torch.tensor([0, 0, 1, 1]))
    lambdas = []
    for _ in range(3):
        loss, metrics = loss_fn(model, batch)
        lambdas.append(reversal.lambda_)
    assert lambdas == [dann_lambda(0.0), dann_lambda(0.25), dann_lambda(0.5)]
    label_loss = torch.nn.functional.cross_entropy(x[:2, :2], torch.tensor([0, 1]))
    assert torch.allclose(loss, label_loss + metrics["domain_loss"])
    assert float(metrics["domain_accuracy"]) == 1.0
    model.eval()
    loss_fn(model, batch)
    assert reversal.lambda_ == dann_lambda(0.5)  # evaluation leaves the schedule alone


def test_nt_xent_by_hand():
    # Two frames in 2-D: views of frame 0 along +x and at 90 degrees; frame 1 along -x.
    z1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.0, 2.0], [-3.0, 0.0]], dtype=torch.float64)  # normalised inside
    t = 0.5
    # Cosines: z = [(1,0), (-1,0), (0,1), (-1,0)]; row 0: positive row 2 (cos 0), negatives
    # rows 1 (cos -1) and 3 (cos -1); row 1: positive row 3 (cos 1), negatives 0 (-1), 2 (0);
    # row 2: positive 0 (0), negatives 1 (0), 3 (0); row 3: positive 1 (1), negatives 0 (-1),
    # 2 (0).
    e = math.exp
    rows = [
        -math.log(e(0 / t) / (e(0 / t) + e(-1 / t) + e(-1 / t))),
        -math.log(e(1 / t) / (e(1 / t) + e(-1 / t) + e(0 / t))),
        -math.log(e(0 / t) / (e(0 / t) + e(0 / t) + e(0 / t))),
        -math.log(e(1 / t) / (e(1 / t) + e(-1 / t) + e(0 / t))),
    ]
    assert nt_xent_loss(z1, z2, t).item() == pytest.approx(sum(rows) / 4, rel=1e-12)
    # One frame has no negative: nothing to contrast.
    assert nt_xent_loss(z1[:1], z2[:1], t).item() == 0.0
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(z1, z2[:1], t)


@pytest.mark.parametrize("temperature", [0.07, 0.1, 1.0])
def test_nt_xent_matches_pytorch_metric_learning(temperature):
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(9, 6, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(9, 6, generator=g, dtype=torch.float64, requires_grad=True)
    ours = nt_xent_loss(z1, z2, temperature)
    pairs = torch.cat([torch.arange(9), torch.arange(9)])  # same label: the two views
    theirs = pml_losses.NTXentLoss(temperature=temperature)(torch.cat([z1, z2]), pairs)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    g_ours = torch.autograd.grad(ours, (z1, z2))
    g_theirs = torch.autograd.grad(theirs, (z1, z2))
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


def test_nt_xent_batch_loss_makes_two_views_and_trains():
    calls = []

    def augment(x, generator):
        calls.append(x.shape)
        return x + 0.1 * torch.randn(x.shape, generator=generator)

    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    x = torch.randn(6, 4, 4, generator=torch.Generator().manual_seed(1))
    loss, metrics = NTXentBatchLoss(augment, temperature=0.2)(
        module, (x,), torch.Generator().manual_seed(0)
    )
    assert calls == [x.shape, x.shape]  # two independent views of the batch
    assert loss.requires_grad and loss.item() > 0
    assert -1.0 <= metrics["positive_similarity"].item() <= 1.0
