import pytest
import torch
from torch import nn

from skspeckle.nn.networks.layers import n_parameters
from skspeckle.nn.networks.speckle_net import speckle_net
from skspeckle.nn.networks.speckle_net_small import (
    MIN_FRAME_SIZE,
    SmallSpeckleNet,
    speckle_net_small,
)


@pytest.mark.parametrize("shape", [(1, 1), (4, 30), (15, 15), (16, 16), (33, 20), (48, 48)])
@pytest.mark.parametrize("activation", ["relu", "prelu"])
def test_output_unit_norm_and_shape(shape, activation):
    torch.manual_seed(0)
    net = SmallSpeckleNet(shape, n_components=7, activation=activation)
    x = torch.rand(3, *shape) * 10
    out = net(x)
    assert out.shape == (3, 7) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    assert net(x.unsqueeze(1)).shape == (3, 7)  # (B, 1, H, W) accepted too
    net.eval()
    assert torch.isfinite(net(torch.rand(1, *shape))).all()  # one frame in eval mode


def test_small_frames_are_zero_padded_to_the_minimum():
    # 16 is the smallest side that leaves one pixel: 16 -> 12 -> 3 -> 1.
    assert SmallSpeckleNet((MIN_FRAME_SIZE, MIN_FRAME_SIZE)).n_flat == 32
    assert SmallSpeckleNet((MIN_FRAME_SIZE, MIN_FRAME_SIZE)).padding == (0, 0, 0, 0)
    assert SmallSpeckleNet((48, 48)).n_flat == 32 * 9 * 9
    net = SmallSpeckleNet((4, 30))
    assert net.padding == (0, 0, 6, 6)
    assert net.n_flat == SmallSpeckleNet((MIN_FRAME_SIZE, 30)).n_flat
    with pytest.raises(ValueError, match="image_shape"):
        SmallSpeckleNet((0, 48))
    with pytest.raises(ValueError, match="activation"):
        SmallSpeckleNet((48, 48), activation="tanh")


def test_fpga_class_size_and_bias_free_convolutions():
    """Dave et al. 2025: 64.6 K parameters, 50-d embedding; the full network is 40x larger."""
    small = speckle_net_small((48, 48), 50)
    assert 60_000 <= n_parameters(small) <= 70_000
    assert n_parameters(speckle_net((48, 48), 128)) > 40 * n_parameters(small)
    convs = [m for m in small.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 and all(c.bias is None for c in convs)
    # Each convolution is followed by its batch norm, so that the two fold for inference.
    layers = list(small.features)
    assert all(isinstance(layers[layers.index(c) + 1], nn.BatchNorm2d) for c in convs)


def test_batch_norm_folds_into_the_convolutions():
    """The folded network (conv weights scaled, one bias, no batch norm) embeds the same."""
    torch.manual_seed(0)
    net = speckle_net_small((48, 48), 50)
    net.train()
    net(torch.rand(64, 48, 48) * 5)  # running statistics away from their initial values
    net.eval()
    x = torch.rand(4, 48, 48) * 5
    with torch.no_grad():
        expected = net(x)
        layers = list(net.features)
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.Conv2d):
                bn = layers[i + 1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                folded = nn.Conv2d(
                    layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride
                )
                folded.weight.copy_(layer.weight * scale[:, None, None, None])
                folded.bias.copy_(bn.bias - bn.running_mean * scale)
                layers[i], layers[i + 1] = folded, nn.Identity()
        net.features = nn.Sequential(*layers)
        torch.testing.assert_close(net(x), expected, atol=1e-5, rtol=1e-5)
