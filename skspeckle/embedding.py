"""SpeckleNN's unified embedding as a scikit-learn transformer."""

import functools
import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skspeckle.nn.device import PRECISIONS, resolve_device, torch_seeded
from skspeckle.nn.inference import predict_batched
from skspeckle.nn.losses import TripletBatchLoss
from skspeckle.nn.mining import MINING_STRATEGIES, balanced_batches
from skspeckle.nn.networks.layers import EmbeddingModel
from skspeckle.nn.networks.speckle_net import speckle_net
from skspeckle.nn.training import adam, train_module
from skspeckle.nn.transfer import copy_matching_weights, frozen, source_state_dict, trainable_tail
from skspeckle.utils._images import validate_images
from skspeckle.utils._sklearn_compat import HasMethods, Interval, StrOptions, fit_context
from skspeckle.utils._split import stratified_split

__all__ = ["TripletEmbedder"]

_MAX_VAL_BATCH = 128


class _AugmentChain:
    """Applies the ``augment_tensor`` of each augmentation object in turn."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, x, generator):
        for step in self.steps:
            out = step.augment_tensor(x, generator)
            if not torch.is_tensor(out) or tuple(out.shape) != tuple(x.shape):
                raise ValueError(
                    f"{type(step).__name__}.augment_tensor must return a tensor of the shape "
                    f"it was given, {tuple(x.shape)}; got "
                    f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}."
                )
            x = out.to(dtype=torch.float32)
        return x


class TripletEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed speckle patterns on the unit hypersphere with a triplet-loss CNN (SpeckleNN).

    ``fit`` trains the SpeckleNN embedding network (two 5x5 convolutions with batch norm and
    max pooling, two fully connected layers, L2-normalised output) with the triplet loss
    ``[||f(a)-f(p)||^2 - ||f(a)-f(n)||^2 + margin]_+`` on triplets mined in class-balanced
    mini-batches; ``transform`` maps frames to unit vectors whose squared Euclidean distances
    measure pattern similarity. Follow it with a few-shot classifier (supports per class,
    nearest by mean / centroid distance) to classify single hits, multi hits, non-sample
    hits and no hits from a handful of labelled frames.

    Parameters
    ----------
    n_components : int, default=128
        Embedding dimension (128 in the paper).
    margin : float in (0, 4], default=0.5
        The triplet margin alpha. Squared distances between unit vectors lie in [0, 4] and two
        random directions in R^128 are ~2 apart; the paper does not state its alpha (the
        reference code scans 0.02 to 2). 0.5 asks for clusters a quarter of the typical
        distance apart: large enough that the mean-distance few-shot rule separates classes
        with a clear gap, small enough that most triplets become inactive, so that semi-hard
        mining keeps finding informative ones (FaceNet used 0.2 for 10^4 identities; with the
        2 to 4 classes of hit finding a wider margin is affordable).
    mining : {"semihard", "hard", "random", "all"}, default="semihard"
        Triplet selection in each batch (see :func:`skspeckle.nn.mining.mine_triplets`).
        ``"semihard"``: for every (anchor, positive) pair a random negative with
        ``d(a,p) < d(a,n) < d(a,p) + margin`` (Schroff et al. 2015; SpeckleNN Sec. III C),
        falling back to the closest easy negative, else the farthest hard one.
    augment : object, list of objects or None, default=None
        Fit-time augmentation. Each object provides ``augment_tensor(x, generator) -> x``
        taking a float32 tensor ``(B, H, W)`` of raw photon frames on the training device and
        a ``torch.Generator`` on that device, and returning a tensor of the same shape. The
        objects are applied in order to every training batch, before the input scaling, so
        every epoch sees fresh views. Never applied to the validation set or in
        ``transform``.
    network : callable or None, default=None
        Factory ``network(image_shape, n_components) -> torch.nn.Module`` replacing the
        SpeckleNN network. The module receives the scaled frames as a float32 tensor ``(B,
        H, W)`` and must return ``(B, n_components)``; the output is L2-normalised for it.
        ``activation`` is ignored then. For instance
        ``functools.partial(skspeckle.nn.networks.speckle_net, init="paper")`` uses the
        paper's N(0, 0.2) weight initialisation.
    activation : {"relu", "prelu"}, default="relu"
        Non-linearity of the default network (ReLU in the paper).
    normalize : {"log1p", "log1p-standardize", "standardize"} or None, default="log1p"
        Input scaling, part of ``module_``
        (see :func:`skspeckle.nn.scaling.scale_frames`).
        ``"log1p"``: negative values (dark-subtraction noise) clipped to 0, then
        ``log(1 + counts)``. Photon counts fall by orders of magnitude from the beam centre
        to the detector edge; the logarithm keeps the faint high-q speckles visible while
        keeping the absolute count, which separates multi from single hits.
        ``"log1p-standardize"`` also standardises each image (fluence-independent
        embeddings; on the demo's online scenario, 3jb9, 100 % area, it scored 0.81 against
        0.86 for ``"log1p"``). ``"standardize"``: only the per-image standardisation (frames
        scaled upstream, or linear counts as in the SpeckleNN reference implementation; on
        unseen particles over a 100x fluence range it kept 0.89-0.92 5-shot accuracy where
        ``"log1p"`` fell to 0.87, but at one fluence it loses the photon count that tells
        multi from single hits: 0.69 against 0.89 on the online scenario at 25 % area; see
        the results page, Fig. 6 and the ablation). ``None``: frames enter the network as
        they are.
    max_epochs : int, default=100
        Upper bound on the passes over the training set (0 keeps the initial weights).
    batch_size : int, default=64
        Frames per training batch (class-balanced, see
        :func:`skspeckle.nn.mining.balanced_batches`) and per ``transform`` batch.
    learning_rate : float, default=1e-3
        Adam learning rate (the paper's value).
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the frames held out (stratified by label, deterministic given
        ``random_state``) to monitor the triplet loss over all valid triplets of fixed,
        class-balanced validation batches (at most 128 frames each) for early stopping; the
        weights of the best validation epoch are kept. 0, or a set
        too small to hold every class (a warning says so), monitors the training loss.
    n_iter_no_change : int or None, default=10
        Stop after this many epochs without an improvement larger than ``tol`` of the
        monitored loss. None trains for ``max_epochs``.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    init_from : None, str, os.PathLike or fitted estimator, default=None
        Initial weights of the network, for fine-tuning (e.g. pretrain offline on many
        structures, then fit online on the particle at hand): a fitted ``TripletEmbedder``
        with the same ``network`` / ``activation`` / ``n_components`` and frame shape, or the
        path of a file written by ``torch.save(emb.module_.network.state_dict(), path)``.
        Every weight of the convolutional part (``network.features``) must match in name and
        shape (an error lists the mismatches); the fully connected part is copied where the
        shapes match. ``clone`` (hence ``GridSearchCV``) replaces an estimator-valued
        parameter by an unfitted copy: wrap it in ``sklearn.frozen.FrozenEstimator`` or pass
        a path. None (default) starts from a fresh initialisation.
    freeze : None, "features" or int, default=None
        Which part of ``network.features`` ``fit`` leaves unchanged: None trains everything;
        ``"features"`` (or 0) freezes the convolutional part (run in inference mode: batch
        norm on its running statistics, bit-identical weights) and trains the fully connected
        layers; int ``k`` keeps the last ``k`` convolutions (and the layers after them)
        trainable (see :func:`skspeckle.nn.transfer.trainable_tail`). Meant for use with
        ``init_from``.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` of flattened input ``(n_samples, H * W)``; square frames by default.
    device : {"auto", "cpu", "cuda"}, str or torch.device, default="auto"
        Where to train and embed (CUDA when available for ``"auto"``). The fitted module is
        kept on the CPU between calls, so a model fitted on a GPU pickles and loads anywhere.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Compute precision of the network in ``fit`` and ``transform``. ``"bfloat16"`` and
        ``"float16"`` run it in mixed precision (:class:`torch.autocast`; weights, the
        embeddings, distances, mining and loss stay float32, and ``"float16"`` training scales
        the loss): for throughput on GPUs, and ``"bfloat16"`` on CPUs with bfloat16
        instructions (AVX-512 BF16, AMX). On the results page's online benchmark, bfloat16
        embeddings of a float32-trained model kept a cosine similarity of at least 0.998
        with the float32 ones and 98.5-99.9 % of the few-shot labels, and ran 1.3x faster
        at batch 64 on a 2-core CPU. ``"float16"`` on a CPU is emulated and slow (a warning
        says so).
        A pickled model keeps its precision; ``set_params(precision="float32")`` changes it
        for ``transform`` without refitting.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split, the batches, the mining and
        the augmentation. torch's global random state is left untouched. The same value
        gives identical embeddings on the CPU (GPU kernels may be non-deterministic).
    verbose : int, default=0
        1 prints one line per epoch (losses, fraction of active triplets, elapsed time,
        throughput); 2 also progress inside epochs.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained :class:`~skspeckle.nn.networks.layers.EmbeddingModel` (input scaling,
        network, L2 normalisation), on the CPU, in eval mode. It maps raw frames ``(B, H, W)`` to
        embeddings.
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``.
    history_ : list of dict
        One dict per epoch: ``loss`` (mean over the mined triplets), ``active_fraction``
        (fraction of them with non-zero loss), ``n_triplets``, ``val_loss``,
        ``val_active_fraction`` and ``val_n_triplets`` (all valid triplets of fixed
        class-balanced validation batches; ``nan`` without validation), ``seconds``,
        ``samples_per_s``, ``triplets_per_s``, ``n_steps``, ``best``.
    n_iter_ : int
        Number of epochs run.
    image_shape_ : tuple of int
        ``(H, W)`` of the frames seen in ``fit``.
    n_features_in_ : int
        ``X.shape[1]`` in ``fit``.
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Notes
    -----
    The method is SpeckleNN (Wang et al., "SpeckleNN: a unified embedding for real-time
    speckle pattern classification in X-ray single-particle imaging with limited labeled
    examples"), Sec. III A (network), B (loss), C (semi-hard selection) and D (Adam, lr
    1e-3); semi-hard mining follows Schroff, Kalenichenko and Philbin, "FaceNet", CVPR 2015.
    Two deliberate differences: the weights keep PyTorch's fan-in-scaled initialisation
    rather than the paper's N(0, 0.2) (see ``network``), and early stopping on a held-out
    validation loss bounds the number of epochs.

    Anchor and positive share the label *and* the group (``groups`` in ``fit``: the particle
    or sample id); negatives come from any group. With metadata routing enabled
    (``sklearn.set_config(enable_metadata_routing=True)``) ``groups`` is requested by
    default, so ``GridSearchCV(pipe, ..., cv=GroupKFold()).fit(X, y, groups=groups)`` hands
    the same ``groups`` to the splitter and to this step; ``set_fit_request(groups=False)``
    opts out. Without routing, pass ``pipe.fit(X, y, tripletembedder__groups=groups)``.

    Frames smaller than 16 x 16 are zero-padded to 16 x 16 inside the default network.

    Examples
    --------
    >>> import numpy as np
    >>> from skspeckle.embedding import TripletEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(3.0, size=(40, 16, 16)).astype(np.float32)
    >>> y = np.repeat([0, 1], 20)
    >>> X[y == 1, 4:12, 4:12] += 5
    >>> emb = TripletEmbedder(n_components=8, max_epochs=2, random_state=0).fit(X, y)
    >>> emb.transform(X).shape
    (40, 8)
    """

    __metadata_request__fit = {"groups": True}

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "margin": [Interval(Real, 0, 4, closed="right")],
        "mining": [StrOptions(set(MINING_STRATEGIES))],
        "augment": [None, list, tuple, HasMethods(["augment_tensor"])],
        "network": [None, callable],
        "activation": [StrOptions({"relu", "prelu"})],
        "normalize": [StrOptions({"log1p", "log1p-standardize", "standardize"}), None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init_from": [None, str, os.PathLike, HasMethods(["fit"])],
        "freeze": [None, StrOptions({"features"}), Interval(Integral, 0, None, closed="left")],
        "image_shape": [tuple, list, None],
        "device": [str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=128,
        *,
        margin=0.5,
        mining="semihard",
        augment=None,
        network=None,
        activation="relu",
        normalize="log1p",
        max_epochs=100,
        batch_size=64,
        learning_rate=1e-3,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        init_from=None,
        freeze=None,
        image_shape=None,
        device="auto",
        precision="float32",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.margin = margin
        self.mining = mining
        self.augment = augment
        self.network = network
        self.activation = activation
        self.normalize = normalize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.init_from = init_from
        self.freeze = freeze
        self.image_shape = image_shape
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Train the embedding network on labelled frames.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames in photons (or ADU); finite values only.
        y : array-like of shape (n_samples,)
            Class labels (e.g. single hit / multi hit / non-sample hit / no hit); at least
            two classes.
        groups : array-like of shape (n_samples,) or None, default=None
            Sample (particle) id of each frame. Anchor and positive are drawn from the same
            group; None puts all frames in one group.

        Returns
        -------
        self : TripletEmbedder

        Raises
        ------
        ValueError
            If ``y`` is missing or not a classification target, there are fewer than two
            classes, ``X`` is empty, has the wrong number of dimensions or non-finite
            values, ``groups`` has the wrong length, ``network`` returns the wrong shape,
            ``init_from`` holds incompatible or no weights, or ``freeze`` asks for more
            trainable convolutions than the network has.
        TypeError
            If an ``augment`` entry has no ``augment_tensor`` method, or ``freeze`` is set
            for a network without ``.features``.
        RuntimeError
            If ``device`` asks for CUDA on a machine without it.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "the triplet loss needs class labels."
            )
        X, y = validate_images(self, X, reset=True, image_shape=self.image_shape, y=y)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to form triplets (an anchor "
                f"and a negative of another class); got 1 class ({self.classes_[0]!r})."
            )
        if groups is None:
            g_enc = np.zeros(len(y_enc), dtype=np.int64)
        else:
            groups = np.asarray(groups)
            if groups.ndim != 1:
                raise ValueError(
                    f"groups must be 1-D (one id per frame); got shape {groups.shape}."
                )
            check_consistent_length(X, y, groups)
            g_enc = np.unique(groups, return_inverse=True)[1].astype(np.int64)
        augment = self._augment_steps()
        device = resolve_device(self.device)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, val_idx = stratified_split(
            y_enc, self.validation_fraction, seed, len(self.classes_), type(self).__name__
        )
        self._warn_if_no_positives(y_enc[train_idx], g_enc[train_idx])

        with torch_seeded(seed, device):
            module = self._build_module()
            try:
                with frozen(self._frozen_layers(module.network)):
                    self.history_ = self._train(
                        module, X, y_enc, g_enc, train_idx, val_idx, seed, device, augment
                    )
            finally:
                module.cpu().eval()
        self.module_ = module
        self.n_iter_ = len(self.history_)
        self._n_features_out = self.n_components
        return self

    def _augment_steps(self):
        if self.augment is None:
            return None
        steps = list(self.augment) if isinstance(self.augment, (list, tuple)) else [self.augment]
        for step in steps:
            if not callable(getattr(step, "augment_tensor", None)):
                raise TypeError(
                    "Every entry of augment must provide augment_tensor(x, generator); "
                    f"{type(step).__name__} does not."
                )
        return _AugmentChain(steps) if steps else None

    @staticmethod
    def _warn_if_no_positives(y_enc, g_enc):
        cells = np.unique(np.stack([y_enc, g_enc], axis=1), axis=0, return_counts=True)[1]
        if cells.max() < 2:
            warnings.warn(
                "No two training frames share both a label and a group, so no "
                "(anchor, positive) pair exists and the network will not be trained. Check "
                "groups: it should be the particle / sample id, shared by many frames.",
                UserWarning,
                stacklevel=3,
            )

    def _build_module(self):
        shape = tuple(self.image_shape_)
        if self.network is None:
            factory = functools.partial(speckle_net, activation=self.activation)
        else:
            factory = self.network
        net = factory(shape, self.n_components)
        if not isinstance(net, torch.nn.Module):
            raise TypeError(f"network must return a torch.nn.Module; got {type(net).__name__}.")
        module = EmbeddingModel(net, self.normalize)
        module.eval()
        with torch.no_grad():
            out = module(torch.zeros((2, *shape)))
        if tuple(out.shape) != (2, self.n_components):
            raise ValueError(
                f"The network maps a batch of 2 frames of shape {shape} to shape "
                f"{tuple(out.shape)}; expected (2, n_components={self.n_components})."
            )
        if self.init_from is not None:
            copy_matching_weights(net, source_state_dict(self.init_from))
        return module

    def _frozen_layers(self, net):
        if self.freeze is None:
            return []
        if not isinstance(getattr(net, "features", None), torch.nn.Module):
            raise TypeError(
                f"freeze={self.freeze!r} needs a network with a convolutional .features "
                f"submodule; {type(net).__name__} has none. Use freeze=None."
            )
        return trainable_tail(net.features, self.freeze)

    def _train(self, module, X, y_enc, g_enc, train_idx, val_idx, seed, device, augment):
        def tensors(idx):
            x = torch.from_numpy(np.array(X[idx], dtype=np.float32))
            if device.type != "cpu" and x.element_size() * x.nelement() <= 2**30:
                x = x.to(device)  # small sets live on the device: no per-batch copies
            return x, torch.from_numpy(y_enc[idx].astype(np.int64)), torch.from_numpy(g_enc[idx])

        train_data = tensors(train_idx)
        val_data = val_batches = None
        if val_idx is not None:
            val_data = tensors(val_idx)
            # "all" mining holds B^3 booleans: validation batches stay at 128 frames or less.
            val_batches = balanced_batches(
                val_data[1],
                val_data[2],
                batch_size=min(self.batch_size, _MAX_VAL_BATCH),
                generator=torch.Generator().manual_seed(seed + 1),
            )

        def sampler(generator):
            return balanced_batches(
                train_data[1], train_data[2], batch_size=self.batch_size, generator=generator
            )

        return train_module(
            module,
            TripletBatchLoss(self.margin, self.mining),
            adam(self.learning_rate),
            train_data,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            val_data=val_data,
            val_loss_fn=TripletBatchLoss(self.margin, "all"),
            val_batches=val_batches,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            generator=torch.Generator().manual_seed(seed),
            augment=augment,
            batch_sampler=sampler,
            device=device,
            precision=self.precision,
            verbose=self.verbose,
            name=type(self).__name__,
        )

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Embed frames as unit vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames of the same shape as in ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_components), float32
            Rows of unit L2 norm.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            On empty input, the wrong number of dimensions, non-finite values, or frames of
            another shape than in ``fit``.
        """
        check_is_fitted(self, "module_")
        X = validate_images(self, X, reset=False)
        return predict_batched(
            self.module_,
            X,
            self.batch_size,
            resolve_device(self.device),
            dtype=torch.float32,
            precision=self.precision,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
