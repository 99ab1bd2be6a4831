"""SpeckleNN's unified embedding as a scikit-learn transformer."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skspeckle._inference import BACKENDS, InferenceEngine
from skspeckle._parameters import PARAMETER_CONSTRAINTS
from skspeckle._pipeline_checks import _check_pipeline_supports
from skspeckle.base import BaseTorchEstimator, _augment_chain
from skspeckle.nn.losses import NTXentBatchLoss, TripletBatchLoss
from skspeckle.nn.mining import MINING_STRATEGIES
from skspeckle.nn.networks.layers import EmbeddingModel
from skspeckle.nn.networks.speckle_net import speckle_net
from skspeckle.nn.networks.speckle_net_small import speckle_net_small
from skspeckle.nn.sampling import balanced_batches
from skspeckle.nn.training import adam, train_module
from skspeckle.utils._callers import calling_pipelines, warn_if_groups_held_back
from skspeckle.utils._images import validate_images
from skspeckle.utils._semi_supervised import labelled_mask
from skspeckle.utils._sklearn_compat import Interval, StrOptions, fit_context

__all__ = ["TripletEmbedder", "NETWORKS", "default_contrastive_augment"]

#: The named networks of ``TripletEmbedder(network=...)``: factories ``(image_shape,
#: n_components, activation=...) -> torch.nn.Module``.
NETWORKS = {"speckle_nn": speckle_net, "speckle_nn_small": speckle_net_small}

_MAX_VAL_BATCH = 128


def _frames_tensor(X, device):
    """Frames as a float32 tensor; on an accelerator when they take at most 1 GiB, so that small
    training sets live on the device with no per-batch copies."""
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    if device.type != "cpu" and x.element_size() * x.nelement() <= 2**30:
        x = x.to(device)
    return x


def default_contrastive_augment():
    """The physics views of ``TripletEmbedder(contrastive_augment=None)``, in order: a new
    draw of the shot noise (:class:`~skspeckle.augmentation.PoissonResample`), a beam-centre
    offset of up to 2 pixels (:class:`~skspeckle.augmentation.RandomShift`) and 4 dead
    patches of 4 x 4 pixels (:class:`~skspeckle.augmentation.RandomPatchMask`). No rotation:
    behind a fixed detector mask a rotated frame shows its dark area where it never is at
    prediction time. No fluence factor: at one fluence the photon count is what tells a
    double hit from a single one, and views that differ in it teach the network to ignore
    it (with ``FluenceJitter(sigma=0.3)`` added, the online learning curve scored 0.01-0.06
    lower at every label budget: ``docs/results.md``, "Learning curve")."""
    from skspeckle.augmentation import PoissonResample, RandomPatchMask, RandomShift

    return [
        PoissonResample(),
        RandomShift(max_shift=2),
        RandomPatchMask(n_patches=4, patch_size=4),
    ]


class TripletEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseTorchEstimator):
    """Embed speckle patterns on the unit hypersphere with a triplet-loss CNN (SpeckleNN).

    ``fit`` trains the SpeckleNN embedding network (two 5x5 convolutions with batch norm and
    max pooling, two fully connected layers, L2-normalised output) with the triplet loss
    ``[||f(a)-f(p)||^2 - ||f(a)-f(n)||^2 + margin]_+`` on triplets mined in class-balanced
    mini-batches; ``transform`` maps frames to unit vectors whose squared Euclidean distances
    measure pattern similarity. Follow it with a few-shot classifier (supports per class,
    nearest by mean / centroid distance) to classify single hits, multi hits, non-sample
    hits and no hits from a handful of labelled frames.

    With ``contrastive_epochs > 0``, ``fit`` first pretrains the network without labels on
    every frame of ``X`` (the run's unlabelled frames marked ``unlabeled`` in ``y``) with the
    NT-Xent contrastive loss of SimCLR on two physics views of each frame, then trains the
    triplet loss on the labelled frames.

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
    .. shared-parameters:: augment
    network : {"speckle_nn", "speckle_nn_small"}, callable or None, default="speckle_nn"
        The embedding network. ``"speckle_nn"``: SpeckleNN's network
        (:func:`~skspeckle.nn.networks.speckle_net.speckle_net`, 2.8 M parameters at 48 x 48).
        ``"speckle_nn_small"``: a network of the FPGA class of Dave et al. 2025
        (:func:`~skspeckle.nn.networks.speckle_net_small.speckle_net_small`, 69 K parameters
        at 48 x 48 with ``n_components=50``, the paper's embedding size), for low
        single-frame latency; its accuracy and latency beside the full network are on the
        results page (``docs/results.md``, Small network). A callable is a factory
        ``network(image_shape, n_components) -> torch.nn.Module``: the module receives the
        scaled frames as a float32 tensor ``(B, H, W)`` and must return ``(B,
        n_components)``; the output is L2-normalised for it, and ``activation`` is ignored.
        For instance ``functools.partial(skspeckle.nn.networks.speckle_net.speckle_net,
        init="paper")`` uses the paper's N(0, 0.2) weight initialisation. None, the
        earlier default, is ``"speckle_nn"``.
    activation : {"relu", "prelu"}, default="relu"
        Non-linearity of the named networks (ReLU in the paper).
    normalize : {"log1p", "log1p-standardize", "standardize"} or None, default="log1p"
        Input scaling, part of ``module_``
        (see :func:`skspeckle.nn.scaling.scale_frames`).
        ``"log1p"``: negative values (dark-subtraction noise) clipped to 0, then
        ``log(1 + counts)``. Photon counts fall by orders of magnitude from the beam centre
        to the detector edge; the logarithm keeps the faint high-q speckles visible while
        keeping the absolute count, which separates multi from single hits.
        ``"log1p-standardize"`` also standardises each image (fluence-independent
        embeddings). ``"standardize"``: only the per-image standardisation (frames scaled
        upstream, or linear counts as in the SpeckleNN reference implementation); it holds
        up better over a wide fluence range, but at one fluence it loses the photon count
        that tells multi from single hits (the results page, ``docs/results.md``, compares
        them: Fig. 6 and the ablation). ``None``: frames enter the network as they are.
    .. shared-parameters:: max_epochs
    batch_size : int, default=64
        Frames per training batch (class-balanced, see
        :func:`skspeckle.nn.sampling.balanced_batches`).
    learning_rate : float, default=1e-3
        Adam learning rate (the paper's value).
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the frames held out (stratified by label, deterministic given
        ``random_state``) to monitor the triplet loss over all valid triplets of fixed,
        class-balanced validation batches (at most 128 frames each) for early stopping; the
        weights of the best validation epoch are kept. 0, or a set too small to hold every
        class (a warning says so), monitors the training loss.
    .. shared-parameters:: n_iter_no_change, tol, init_from, freeze, image_shape, device, \
precision
    inference_backend : {"auto", "torch", "onnxruntime"}, default="auto"
        What runs the fitted network in ``transform`` (hence ``predict``, ``predict_file``,
        ``skspeckle classify``): ``"torch"`` the eager module; ``"onnxruntime"`` ONNX Runtime
        on ``module_`` exported once to an ONNX graph (the ``onnx`` extra; float32; 2-4x
        eager torch on a CPU, see ``docs/results.md``, Inference backends); ``"auto"``
        onnxruntime where it is installed and can run the graph (float32 or ``"auto"``
        ``precision``; the CPU, or CUDA with ``onnxruntime-gpu``), else torch; and as the
        export costs 1-4 s, ``"auto"`` uses it only for calls of at least 2**20 pixels
        (455 frames of 48 x 48) and torch, at float32 too, for smaller ones (the rule
        depends on the call's size alone, so results never depend on earlier calls). The
        graph and the session are
        kept on the estimator and never pickled or saved: they are rebuilt after unpickling
        or :func:`~skspeckle.persistence.load_model`, and ``fit`` discards them.
        onnxruntime's intra-op threads follow ``torch.get_num_threads()`` at each call, so
        ``torch.set_num_threads`` governs both. Outputs agree with the torch backend to
        about 1e-7.
    inference_batch_size : int or None, default=None
        Frames per ``transform`` batch; None: 512 with onnxruntime and 64 with torch, the
        fastest of 32 ... 1024 measured on a CPU at 48 x 48 and 96 x 96 (the training
        ``batch_size`` is tuned for the triplet mining, not for inference).
    .. shared-parameters:: random_state
    verbose : int, default=0
        1 shows a progress bar over the epochs (tqdm, on stderr: loss, validation loss,
        ETA), prints one line per epoch (losses, fraction of active triplets, elapsed time,
        throughput) and a bar for ``transform`` beyond 10 batches; 2 also a bar over the
        batches of each epoch.
    unlabeled : label or None, default=-1
        The value of ``y`` that marks a frame without a label, as in
        :mod:`sklearn.semi_supervised` (``-1`` in an int array, or in an object array of
        string labels; a string such as ``"unlabeled"`` works too). The triplet stage trains
        on the labelled frames only; the unlabelled ones serve the contrastive stage
        (``contrastive_epochs``) and, with ``contrastive_epochs=0``, are left out of ``fit``
        altogether. The marker is never a class of ``classes_``. None: every value of ``y``
        is a class (for data whose classes include -1).
    contrastive_epochs : int, default=0
        Epochs of self-supervised pretraining on *every* frame of ``X``, labelled or not,
        before the triplet stage: NT-Xent (SimCLR: Chen et al., "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020, Eq. 1) between two views
        of each frame made by ``contrastive_augment``, the other frames of the batch the
        negatives, on the L2-normalised embedding (no separate projection head: the triplet
        stage fine-tunes the whole network afterwards). Batches of ``batch_size`` frames
        (``2 * batch_size`` views), Adam at ``learning_rate``, a fixed number of epochs (no
        validation set, no early stopping); ``init_from`` sets its start, ``freeze`` holds in
        both stages. It needs no labels, so its result can be fitted once (``max_epochs=0``
        and any two labelled frames) and shared through ``init_from`` by several label
        budgets. 0: no pretraining, and ``fit`` is what it was without the parameter.
    contrastive_augment : object, list of objects or None, default=None
        The random views of the contrastive stage, with the protocol of ``augment``; each
        view applies the whole list with its own draws. None: the list of
        :func:`~skspeckle.embedding.default_contrastive_augment` (Poisson resampling of the
        photon counts, shifts of up to 2 pixels, 4 dead 4 x 4 patches), which expects photon
        counts. Unused when ``contrastive_epochs=0``.
    temperature : float, default=0.1
        The NT-Xent temperature (> 0) on cosine similarities (SimCLR's value for its large
        batches was 0.1; lower weighs the hardest negatives more).

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained :class:`~skspeckle.nn.networks.layers.EmbeddingModel` (input scaling,
        network, L2 normalisation), on the CPU, in eval mode. It maps raw frames ``(B, H, W)`` to
        embeddings.
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``.
    history_ : list of dict
        One dict per epoch, contrastive epochs first. ``stage``: ``"contrastive"`` or
        ``"triplet"``. Contrastive epochs: ``loss`` (NT-Xent, mean over the views),
        ``positive_similarity`` (mean cosine similarity of the two views of a frame),
        ``seconds``, ``samples_per_s`` (frames), ``n_steps``. Triplet epochs: ``loss`` (mean
        over the mined triplets), ``active_fraction``
        (fraction of them with non-zero loss), ``n_triplets``, ``val_loss``,
        ``val_active_fraction`` and ``val_n_triplets`` (all valid triplets of fixed
        class-balanced validation batches; ``nan`` without validation), ``seconds``,
        ``samples_per_s``, ``triplets_per_s``, ``n_steps``, ``best``.
    n_iter_ : int
        Number of epochs run, both stages (``len(history_)``).
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
    opts out. Without routing, pass ``pipe.fit(X, y, tripletembedder__groups=groups)``;
    ``fit`` warns when a search or cross-validation running it in this process was given
    ``groups`` that, with routing off, only its splitter received.

    Frames smaller than 16 x 16 are zero-padded to 16 x 16 inside the default network.

    The shared parameters and the ``fit`` scaffold (seeding, validation split, ``init_from`` /
    ``freeze``, ``precision``, ``augment``) come from :class:`skspeckle.base.BaseTorchEstimator`.

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
        **BaseTorchEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "margin": [Interval(Real, 0, 4, closed="right")],
        "mining": [StrOptions(set(MINING_STRATEGIES))],
        "network": [StrOptions(set(NETWORKS)), callable, None],
        "activation": [StrOptions({"relu", "prelu"})],
        "inference_backend": [StrOptions(set(BACKENDS))],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "unlabeled": "no_validation",
        "contrastive_epochs": [Interval(Integral, 0, None, closed="left")],
        "contrastive_augment": PARAMETER_CONSTRAINTS["augment"],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }
    _module_type = EmbeddingModel
    _output_name = "n_components="

    def __init__(
        self,
        n_components=128,
        *,
        margin=0.5,
        mining="semihard",
        augment=None,
        network="speckle_nn",
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
        inference_backend="auto",
        inference_batch_size=None,
        random_state=None,
        verbose=0,
        unlabeled=-1,
        contrastive_epochs=0,
        contrastive_augment=None,
        temperature=0.1,
    ):
        super().__init__(
            augment=augment,
            normalize=normalize,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            init_from=init_from,
            freeze=freeze,
            image_shape=image_shape,
            device=device,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
        )
        self.n_components = n_components
        self.margin = margin
        self.mining = mining
        self.network = network
        self.activation = activation
        self.inference_backend = inference_backend
        self.inference_batch_size = inference_batch_size
        self.unlabeled = unlabeled
        self.contrastive_epochs = contrastive_epochs
        self.contrastive_augment = contrastive_augment
        self.temperature = temperature

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Train the embedding network on labelled frames (after a contrastive stage on all
        frames when ``contrastive_epochs > 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
            Frames in photons (or ADU); finite values only.
        y : array-like of shape (n_samples,)
            Class labels (e.g. single hit / multi hit / non-sample hit / no hit), at least
            two classes; ``unlabeled`` (default -1) for the frames without one.
        groups : array-like of shape (n_samples,) or None, default=None
            Sample (particle) id of each frame. Anchor and positive are drawn from the same
            group; None puts all frames in one group. Entries of unlabelled frames are
            ignored.

        Returns
        -------
        self : TripletEmbedder

        Raises
        ------
        ValueError
            If ``y`` is missing or not a classification target, every frame is marked
            ``unlabeled``, there are fewer than two classes, ``X`` is empty, has the wrong
            number of dimensions, non-finite values or values beyond the float32 range,
            ``groups`` has the wrong length, ``network`` returns the wrong shape,
            ``init_from`` holds incompatible or no weights, or ``freeze`` asks for more
            trainable convolutions than the network has. Also, before any training, if a
            ``Pipeline`` fitting this step ends with a
            :class:`~skspeckle.few_shot.FewShotCentroidClassifier` whose ``k`` exceeds the
            smallest labelled class of ``y`` (that classifier would refuse it only after the
            training); the message names its step and ``<step>__k``.
        TypeError
            If an ``augment`` entry has no ``augment_tensor`` method, or ``freeze`` is set
            for a network without ``.features``.
        RuntimeError
            If ``device`` asks for CUDA on a machine without it.

        Warns
        -----
        UserWarning
            When ``groups`` is None, metadata routing is off and a search or
            cross-validation running this fit in the same process (``n_jobs`` None or 1,
            and a search's refit) was given ``groups``: they went to its splitter only. The
            message names ``sklearn.set_config(enable_metadata_routing=True)`` and, in a
            pipeline, the ``<step>__groups`` fit parameter that passes them without routing.
        """
        self._require_y(y, "the triplet loss needs class labels.")
        X, y = validate_images(self, X, reset=True, image_shape=self.image_shape, y=y)
        labelled = labelled_mask(y, self.unlabeled, type(self).__name__)
        y_lab = y[labelled]
        check_classification_targets(y_lab)
        self.classes_, y_enc = np.unique(y_lab, return_inverse=True)
        self._require_two_classes(
            self.classes_, "to form triplets (an anchor and a negative of another class)"
        )
        # Only the call stack shows the pipeline fitting this step and the search holding
        # groups (see skspeckle.utils._callers); both checks come before minutes of training.
        pipelines = calling_pipelines(self)
        _check_pipeline_supports(pipelines, y, type(self).__name__)
        if groups is None:
            warn_if_groups_held_back(self, pipelines)
            g_enc = np.zeros(len(y_enc), dtype=np.int64)
        else:
            groups = np.asarray(groups)
            if groups.ndim != 1:
                raise ValueError(
                    f"groups must be 1-D (one id per frame); got shape {groups.shape}."
                )
            check_consistent_length(X, y, groups)
            g_enc = np.unique(groups[labelled], return_inverse=True)[1].astype(np.int64)
        contrastive = _augment_chain(
            default_contrastive_augment()
            if self.contrastive_augment is None
            else self.contrastive_augment
        )
        self._fit_network(
            X if labelled.all() else X[labelled],
            y_enc,
            len(self.classes_),
            self.n_components,
            g_enc=g_enc,
            X_contrastive=X if self.contrastive_epochs > 0 else None,
            contrastive=contrastive,
        )
        self._n_features_out = self.n_components
        # A new module, a new (empty) engine: nothing exported for the old weights survives.
        self._inference_engine = InferenceEngine(self.module_, self.image_shape_)
        return self

    def _build_network(self, input_shape, n_outputs):
        if self.network is None or isinstance(self.network, str):
            factory = NETWORKS[self.network or "speckle_nn"]
            return factory(input_shape, n_outputs, activation=self.activation)
        return self.network(input_shape, n_outputs)

    def _train(
        self, module, X, y_enc, train_idx, val_idx, seed, options, g_enc, X_contrastive, contrastive
    ):
        history = []
        if X_contrastive is not None:
            history = self._train_contrastive(module, X_contrastive, seed, options, contrastive)
        return history + [
            {"stage": "triplet", **record}
            for record in self._train_triplet(
                module, X, y_enc, train_idx, val_idx, seed, options, g_enc
            )
        ]

    def _train_contrastive(self, module, X, seed, options, contrastive):
        """The NT-Xent stage on every frame: fixed epochs, shuffled batches, no validation."""
        x = _frames_tensor(X, options["device"])
        stage_options = dict(
            options,
            max_epochs=self.contrastive_epochs,
            n_iter_no_change=None,
            augment=None,  # the loss makes its two views itself
            # Its own batch order: the triplet stage's batches do not depend on this stage.
            generator=torch.Generator().manual_seed(seed + 2),
            name=f"{options['name']} contrastive",
        )
        history = train_module(
            module,
            NTXentBatchLoss(contrastive, self.temperature),
            adam(self.learning_rate),
            (x,),
            restore_best=False,
            **stage_options,
        )
        return [{"stage": "contrastive", **record} for record in history]

    def _train_triplet(self, module, X, y_enc, train_idx, val_idx, seed, options, g_enc):
        _warn_if_no_positives(y_enc[train_idx], g_enc[train_idx])
        device = options["device"]

        def tensors(idx):
            x = _frames_tensor(X[idx], device)
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
            val_data=val_data,
            val_loss_fn=TripletBatchLoss(self.margin, "all"),
            val_batches=val_batches,
            batch_sampler=sampler,
            **options,
        )

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
        engine = getattr(self, "_inference_engine", None)
        if engine is None or engine.module is not self.module_:  # module_ replaced by hand
            engine = self._inference_engine = InferenceEngine(self.module_, self.image_shape_)
        return engine.run(
            X,
            backend=self.inference_backend,
            device=self.device,
            precision=self.precision,
            batch_size=self.inference_batch_size,
        )

    @property
    def inference_backend_(self):
        """The backend that runs ``transform``: ``"torch"`` or ``"onnxruntime"`` (None
        before the first ``transform``)."""
        check_is_fitted(self, "module_")
        engine = getattr(self, "_inference_engine", None)
        return None if engine is None else engine.backend

    def __getstate__(self):
        # The exported graph and the onnxruntime session are a cache of module_: never
        # stored (they are not safe to unpickle, and sessions cannot be pickled at all).
        state = super().__getstate__()
        state.pop("_inference_engine", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if hasattr(self, "module_"):
            self._inference_engine = InferenceEngine(self.module_, self.image_shape_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _warn_if_no_positives(y_enc, g_enc):
    cells = np.unique(np.stack([y_enc, g_enc], axis=1), axis=0, return_counts=True)[1]
    if cells.max() < 2:
        warnings.warn(
            "No two training frames share both a label and a group, so no "
            "(anchor, positive) pair exists and the network will not be trained. Check "
            "groups: it should be the particle / sample id, shared by many frames.",
            UserWarning,
            stacklevel=6,
        )
