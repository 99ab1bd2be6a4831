"""Checks a training step makes for the ``FewShotCentroidClassifier`` ending its pipeline.

Split from ``few_shot.py`` to keep the estimator module short.
"""

import numpy as np

from skspeckle.few_shot import FewShotCentroidClassifier
from skspeckle.utils._sklearn_compat import validate_params


def _check_pipeline_supports(pipelines, y, trainer):
    """Fail now where a ``FewShotCentroidClassifier`` ending a pipeline would fail later.

    A step that trains for minutes (``TripletEmbedder``) calls this at the start of its
    ``fit``: when a pipeline fitting it ends with a ``FewShotCentroidClassifier``, that
    classifier receives the same ``y`` after the training, and its ``fit`` would refuse a
    class with fewer than ``k`` samples only then. Its parameters are validated as its
    ``fit`` would.

    Parameters
    ----------
    pipelines : list of (Pipeline, str)
        The pipelines fitting the calling step, innermost first, each with the name of the
        step that is the step or the previous pipeline
        (:func:`skspeckle.utils._callers.calling_pipelines`).
    y : array-like of shape (n_samples,)
        The labels the calling step received, validated (the classifier's ``unlabeled``
        marker included: it drops them, as its ``fit`` does).
    trainer : str
        Name of the calling step, for the message.

    Raises
    ------
    ValueError
        If a class of ``y`` has fewer than ``k`` samples; the message names the classifier's
        step and its ``k`` parameter as ``set_params`` spells it.
    sklearn.utils._param_validation.InvalidParameterError
        If the classifier's parameters are invalid.
    """
    names = [name for _, name in pipelines]
    for i, (pipeline, child) in enumerate(pipelines):
        last, final = pipeline.steps[-1]
        if last == child or not isinstance(final, FewShotCentroidClassifier):
            continue
        # Always: the calling fit runs with nested validation switched off.
        validate_params(final)
        classes, counts = np.unique(np.asarray(y)[final._labelled(y)], return_counts=True)
        path = "__".join([*reversed(names[i + 1 :]), last])
        final._check_class_sizes(classes, counts, where=(path, trainer))
