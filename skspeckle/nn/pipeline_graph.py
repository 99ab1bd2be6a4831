"""A fitted classification pipeline as one torch module: masking, binning, embedding, few-shot.

The layers mirror, in plain torch and with their fitted state as buffers, what the
scikit-learn steps compute at ``transform`` / ``predict`` time, so that one graph
(:func:`skspeckle.export.to_onnx`, :func:`skspeckle.export.to_torchscript`) can run the
whole pipeline on an edge or trigger system without Python, scikit-learn or skspeckle:

- :class:`MaskPixels`: :class:`~skspeckle.preprocessing.DetectorMask` (pixels outside the mask,
  and optionally non-finite pixels, set to the fill value);
- :class:`BinPixels`: :class:`~skspeckle.preprocessing.PixelBinning` (block sums);
- the embedder's own ``module_`` (input scaling, network, L2 normalisation);
- :class:`FewShotHead`: :class:`~skspeckle.few_shot.FewShotCentroidClassifier` (aggregated
  squared distances to the supports, ``decision_function``, ``predict_proba``, the label).

:class:`PipelineGraph` chains them and flags the frames the pipeline would have refused
(non-finite pixels that no step masks).
"""

import torch
from torch import nn

__all__ = ["MaskPixels", "BinPixels", "FewShotHead", "PipelineGraph", "PIPELINE_OUTPUTS"]

#: The outputs of :class:`PipelineGraph` with a few-shot head, in order (without one:
#: ``embeddings`` and ``valid``).
PIPELINE_OUTPUTS = (
    "label",
    "decision_function",
    "probabilities",
    "distances",
    "embeddings",
    "valid",
)


class MaskPixels(nn.Module):
    """Set the pixels outside ``keep`` (and, with ``mask_nonfinite``, NaN / inf pixels) to
    ``fill_value``.

    Parameters
    ----------
    keep : torch.Tensor of shape (H, W), bool
        True for the visible pixels.
    fill_value : float
    mask_nonfinite : bool
        True: non-finite pixels are hidden too. False: they are left, and
        :attr:`checks_finite` makes :class:`PipelineGraph` flag the frame as invalid (the
        scikit-learn step raises on it).
    """

    def __init__(self, keep, fill_value=0.0, mask_nonfinite=False):
        super().__init__()
        self.register_buffer("keep", keep.to(torch.bool))
        self.fill_value = float(fill_value)
        self.mask_nonfinite = bool(mask_nonfinite)
        self.checks_finite = not self.mask_nonfinite

    def forward(self, x):
        keep = self.keep
        if self.mask_nonfinite:
            keep = keep & torch.isfinite(x)
        return torch.where(keep, x, torch.full_like(x, self.fill_value))


class BinPixels(nn.Module):
    """Sum ``factor x factor`` blocks of ``(B, H, W)`` frames, dropping the incomplete edge
    rows and columns."""

    checks_finite = True

    def __init__(self, factor, image_shape):
        super().__init__()
        self.factor = int(factor)
        self.image_shape = tuple(int(s) for s in image_shape)

    def forward(self, x):
        f, (h, w) = self.factor, self.image_shape
        x = x[:, : h - h % f, : w - w % f]
        return x.reshape(-1, h // f, f, w // f, f).sum(dim=(2, 4))


class FewShotHead(nn.Module):
    """Aggregated squared distances of embeddings to the supports of each class, and what
    :class:`~skspeckle.few_shot.FewShotCentroidClassifier` derives from them.

    Parameters
    ----------
    supports : torch.Tensor of shape (n_supports, D), float64
        Grouped by class, classes in order.
    sizes : list of int
        Supports per class.
    aggregation : {"mean", "centroid", "min"}
    temperature : float

    Notes
    -----
    The computation stays in float32 (what edge devices run), but keeps the classifier's
    accuracy: everything is centred on the mean support first; ``"mean"`` and ``"centroid"``
    use the centroids and the classes' mean squared spread (``mean_j |q - s_j|^2 = |q - c|^2 +
    mean_j |s_j - c|^2``) and direct differences; ``"min"`` expands ``|q|^2 + |s|^2 - 2 q.s``
    over all supports (one matrix product) and takes the minimum within each class.
    """

    def __init__(self, supports, sizes, aggregation="mean", temperature=1.0):
        super().__init__()
        supports = supports.to(torch.float64)
        shift = supports.mean(dim=0)
        centred = supports - shift
        self.aggregation, self.temperature = aggregation, float(temperature)
        self.n_classes = len(sizes)
        self.register_buffer("shift", shift.float())
        blocks = torch.split(centred, list(sizes))
        if aggregation == "min":
            # Column n_supports of the padded distance matrix is +inf: the pad of short classes.
            index = torch.full((len(sizes), max(sizes)), len(centred), dtype=torch.int64)
            start = 0
            for c, size in enumerate(sizes):
                index[c, :size] = torch.arange(start, start + size)
                start += size
            self.register_buffer("supports", centred.float())
            self.register_buffer("support_norms", (centred**2).sum(dim=1).float())
            self.register_buffer("index", index)
        else:
            centroids = torch.stack([b.mean(dim=0) for b in blocks])
            spread = torch.zeros(len(sizes), dtype=torch.float64)
            if aggregation == "mean":
                spread = torch.stack(
                    [((b - c) ** 2).sum(dim=1).mean() for b, c in zip(blocks, centroids)]
                )
            self.register_buffer("centroids", centroids.float())
            self.register_buffer("spread", spread.float())

    def distances(self, embeddings):
        q = embeddings - self.shift
        if self.aggregation == "min":
            d = (q**2).sum(dim=1, keepdim=True) + self.support_norms - 2.0 * (q @ self.supports.T)
            d = torch.clamp(d, min=0.0)
            pad = torch.full_like(d[:, :1], float("inf"))
            return torch.cat([d, pad], dim=1)[:, self.index].amin(dim=2)
        return ((q.unsqueeze(1) - self.centroids) ** 2).sum(dim=2) + self.spread

    def forward(self, embeddings):
        d = self.distances(embeddings)
        decision = d[:, 0] - d[:, 1] if self.n_classes == 2 else -d
        proba = torch.softmax(-d / self.temperature, dim=1)
        return torch.argmin(d, dim=1), decision, proba, d


class PipelineGraph(nn.Module):
    """Raw frames ``(B, H, W)`` float32 through ``steps``, ``embedding`` and ``head``.

    Parameters
    ----------
    steps : list of torch.nn.Module
        Preprocessing layers (:class:`MaskPixels`, :class:`BinPixels`); each with a
        ``checks_finite`` attribute: True where the scikit-learn step refuses non-finite
        input.
    embedding : torch.nn.Module
        Frames to unit vectors (a fitted ``EmbeddingModel``).
    head : FewShotHead or None

    Returns (forward)
    -----------------
    With a head, the tuple of :data:`PIPELINE_OUTPUTS`: ``label`` (B,) int64 (index into the
    classes; -1 where ``valid`` is False), ``decision_function`` ((B,) for two classes, else
    (B, C)), ``probabilities`` (B, C), ``distances`` (B, C), ``embeddings`` (B, D), ``valid``
    (B,) bool: False for frames with non-finite pixels that no step masks (the pipeline
    raises on them; their other outputs are not meaningful). Without a head:
    ``(embeddings, valid)``.
    """

    def __init__(self, steps, embedding, head=None):
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.embedding = embedding
        self.head = head

    def forward(self, frames):
        x = frames
        valid = torch.ones_like(x[:, 0, 0], dtype=torch.bool)
        for step in self.steps:
            if step.checks_finite:
                valid = valid & torch.isfinite(x).flatten(1).all(dim=1)
            x = step(x)
        # The embedder refuses non-finite frames too.
        valid = valid & torch.isfinite(x).flatten(1).all(dim=1)
        embeddings = self.embedding(x)
        if self.head is None:
            return embeddings, valid
        label, decision, proba, distances = self.head(embeddings)
        label = torch.where(valid, label, torch.full_like(label, -1))
        return label, decision, proba, distances, embeddings, valid
