import pytest
import torch

from skspeckle.nn.scaling import InputScaling, scale_frames


def test_scale_frames():
    x = torch.tensor([[[0.0, 1.0], [3.0, -2.0]], [[5.0, 5.0], [5.0, 5.0]]])
    log = torch.log1p(torch.tensor([0.0, 1.0, 3.0, 0.0]))
    torch.testing.assert_close(scale_frames(x, "log1p")[0].flatten(), log)
    out = scale_frames(x, "log1p-standardize")
    torch.testing.assert_close(out[0].flatten(), (log - log.mean()) / log.std(unbiased=False))
    assert torch.all(out[1] == 0)  # constant frame -> zeros
    # fluence invariance of the standardisation
    y = torch.rand(2, 5, 5)
    torch.testing.assert_close(scale_frames(7 * y, "standardize"), scale_frames(y, "standardize"))
    assert scale_frames(x, None) is x
    with pytest.raises(ValueError):
        scale_frames(x, "minmax")
    with pytest.raises(ValueError):
        InputScaling("minmax")
