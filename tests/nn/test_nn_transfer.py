"""Weight copying and freezing between networks."""

import pytest
import torch

from skspeckle.nn.networks.spi import Shi19Net, SPIResNet
from skspeckle.nn.transfer import (
    copy_matching_weights,
    frozen,
    load_state_dict_file,
    trainable_tail,
)


def _net(n_outputs=3, widths=(2, 4, 4)):
    torch.manual_seed(n_outputs)
    return SPIResNet((16, 16), n_outputs, n=1, m=1, widths=widths)


def test_copy_takes_features_and_skips_a_head_of_another_shape():
    src, dst = _net(3), _net(2)
    skipped = copy_matching_weights(dst, src.state_dict())
    assert skipped == ["head.2.weight", "head.2.bias"]
    for name, tensor in src.features.state_dict().items():
        assert torch.equal(dst.features.state_dict()[name], tensor)


def test_copy_lists_every_mismatch_and_copies_nothing():
    src, dst = _net(3, widths=(2, 4, 8)), _net(3)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    state = src.state_dict()
    del state["features.0.weight"]
    with pytest.raises(
        ValueError,
        match=r"missing from the source: features\.0\.weight.*"
        r"shape mismatch: features\.4\.conv1\.weight",
    ):
        copy_matching_weights(dst, state)
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())


def test_trainable_tail_counts_convolutions():
    net = Shi19Net((24, 24))
    leaves = [m for m in net.features.modules() if not list(m.children())]
    assert trainable_tail(net.features, None) == []
    assert trainable_tail(net.features, "features") == leaves
    tail1 = trainable_tail(net.features, 1)
    assert leaves[len(tail1)] is net.features[2][0]  # the last convolution starts the tail
    with pytest.raises(ValueError, match="only 3"):
        trainable_tail(net.features, 4)


def test_frozen_layers_stay_bit_identical_in_training_and_are_restored():
    net = _net()
    before = {k: v.clone() for k, v in net.features.state_dict().items()}
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with frozen(trainable_tail(net.features, "features")):
        net.train()
        for _ in range(2):
            opt.zero_grad()
            net(torch.rand(8, 16, 16)).sum().backward()
            opt.step()
        assert not any(p.requires_grad for p in net.features.parameters())
    for k, v in net.features.state_dict().items():
        assert torch.equal(before[k], v), k
    assert all(p.requires_grad for p in net.parameters())
    net.train()
    net(torch.rand(8, 16, 16))
    assert not torch.equal(before["1.running_mean"], net.features[1].running_mean)


def test_state_dict_file_round_trip_and_errors(tmp_path):
    net = _net()
    path = tmp_path / "w.pt"
    torch.save({"state_dict": net.state_dict()}, path)
    loaded = load_state_dict_file(path)
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
    with pytest.raises(FileNotFoundError, match="torch.save"):
        load_state_dict_file(tmp_path / "missing.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        load_state_dict_file(tmp_path / "list.pt")
