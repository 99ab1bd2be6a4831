import pytest
import torch

from skspeckle.nn.networks.layers import EmbeddingModel, pad_to
from skspeckle.nn.networks.speckle_net import MIN_FRAME_SIZE, SpeckleNet, flat_size, speckle_net


@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (3, 3), (15, 16), (16, 16), (17, 23), (48, 48)])
@pytest.mark.parametrize("activation", ["relu", "prelu"])
def test_speckle_net_output_unit_norm_and_shape(shape, activation):
    torch.manual_seed(0)
    net = SpeckleNet(shape, n_components=7, activation=activation)
    x = torch.rand(3, *shape) * 10
    out = net(x)
    assert out.shape == (3, 7) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    assert net(x.unsqueeze(1)).shape == (3, 7)  # (B, 1, H, W) accepted too
    net.eval()
    assert torch.isfinite(net(torch.rand(1, *shape))).all()  # single frame in eval mode


def test_small_frames_are_zero_padded_to_minimum():
    net = SpeckleNet((4, 20), n_components=4)
    assert net.padding == (0, 0, 6, 6)
    assert net.n_flat == flat_size((4, 20)) == flat_size((MIN_FRAME_SIZE, 20))
    assert SpeckleNet((16, 16)).n_flat == 64  # 16 -> 12 -> 6 -> 2 -> 1
    assert SpeckleNet((48, 48)).padding == (0, 0, 0, 0)


def test_paper_init_and_bad_options():
    net = speckle_net((16, 16), 4, init="paper")
    w = net.head[1].weight.detach()
    assert abs(float(w.std()) - 0.2) < 0.01 and float(net.head[1].bias.detach().abs().sum()) == 0
    with pytest.raises(ValueError, match="init"):
        SpeckleNet((16, 16), init="xavier")
    with pytest.raises(ValueError, match="activation"):
        SpeckleNet((16, 16), activation="tanh")


def test_embedding_model_normalises_any_network():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(9, 5))
    model = EmbeddingModel(net, normalize="log1p")
    out = model(torch.rand(4, 3, 3) * 100)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(4))
    assert model.network is net


def test_pad_to_pads_trailing_dimensions_symmetrically_odd_pixel_last():
    x = torch.ones(2, 1, 3, 20)
    out = pad_to(x, (6, 6))
    assert out.shape == (2, 1, 6, 20)
    assert out[0, 0, :, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert pad_to(x, (3, 20)) is x
    assert pad_to(torch.ones(2, 5), (8,)).shape == (2, 8)  # 1-D profiles
