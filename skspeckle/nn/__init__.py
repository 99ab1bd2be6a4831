"""Plain PyTorch machinery behind the estimators. Imports only torch, the standard library and
itself, never the estimator modules; nothing is imported here, import the submodules.

- :mod:`~skspeckle.nn.networks`: the networks (SpeckleNN, the SPI and SFX baselines) and the
  layers and model wrappers they share.
- :mod:`~skspeckle.nn.scaling`: per-image input scaling of photon frames.
- :mod:`~skspeckle.nn.distances`: pairwise squared distances between embeddings.
- :mod:`~skspeckle.nn.mining`: triplet mining over a batch distance matrix.
- :mod:`~skspeckle.nn.sampling`: class-balanced, group-aware batches.
- :mod:`~skspeckle.nn.losses`: the triplet loss and the other training losses.
- :mod:`~skspeckle.nn.training`: the training loop, batch iterators and the optimiser.
- :mod:`~skspeckle.nn.inference`: batched prediction.
- :mod:`~skspeckle.nn.transfer`: copying weights between networks, freezing.
- :mod:`~skspeckle.nn.augment`: batched random augmentation of speckle patterns.
- :mod:`~skspeckle.nn.gradient_reversal`: the gradient reversal layer of DANN.
- :mod:`~skspeckle.nn.device`: device resolution, seeding and mixed precision.
"""
