"""The two-headed network of domain-adversarial training (Ganin et al., JMLR 17(59), 2016)."""

from torch import nn

from skspeckle.nn.networks.layers import capture_features

__all__ = ["DANNModel"]


class DANNModel(nn.Module):
    """Label logits of a classifier model and the domain logit of its features.

    Parameters
    ----------
    model : skspeckle.nn.networks.spi.ClassifierModel
        Raw frames to label logits; its ``.network.features`` feed the domain head.
    domain_head : skspeckle.nn.networks.spi.DomainHead
        Features to the logit of "target domain", behind its gradient-reversal layer.

    Notes
    -----
    ``forward(x)`` returns ``(label_logits, domain_logit)``; the features are read with
    :func:`skspeckle.nn.networks.spi.capture_features`, so any network with a ``.features``
    submodule works, whatever it does to the input before them. The loss is
    :class:`skspeckle.nn.losses.DANNLoss`.
    """

    def __init__(self, model, domain_head):
        super().__init__()
        self.model, self.domain_head = model, domain_head

    def forward(self, x):
        with capture_features(self.model.network) as captured:
            logits = self.model(x)
        return logits, self.domain_head(captured[-1])
