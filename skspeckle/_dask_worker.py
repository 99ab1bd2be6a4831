"""What runs on the dask workers of :func:`skspeckle.cluster.predict_dask`: the fitted model,
shipped once per worker as a worker plugin, and the task that classifies one block of frames.

Imported only by :mod:`skspeckle.cluster` once ``distributed`` is known to be installed
(through :func:`skspeckle.utils._optional.import_optional`), so that the ``dask`` extra stays
optional.
"""

import numpy as np
from distributed import WorkerPlugin, get_worker

from skspeckle._run_control import Scorer, classify_chunk

__all__ = ["ModelPlugin", "classify_block"]


class ModelPlugin(WorkerPlugin):
    """Holds a fitted model on every worker of the cluster.

    The scheduler keeps the plugin and hands it to each worker when it registers, restarted
    or newly added ones included (a worker replaced after a crash, an adaptive SLURM cluster
    that grows), so the model crosses the network once per worker, not once per task, and no
    task ever waits for a copy held by a worker that died.
    """

    def __init__(self, model, embeddings):
        self.model = model
        self.embeddings = embeddings
        self.scorer = None

    def setup(self, worker):
        # Unpickled on the worker; the Scorer checks that the model is fitted.
        self.scorer = Scorer(self.model, self.embeddings)


def classify_block(block, start, plugin_name, nonfinite, mask_value, source):
    """Results of frames ``start:start + len(block)`` (dict of arrays, as
    :func:`skspeckle._run_control.classify_chunk`), with the model of plugin ``plugin_name``."""
    scorer = get_worker().plugins[plugin_name].scorer
    # A fresh float32 copy: classify_chunk masks bad pixels in place, and dask may hand the
    # same block to another task.
    frames = np.array(block, dtype=np.float32, copy=True)
    try:
        return classify_chunk(scorer, frames, start, nonfinite, mask_value, source)
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"(while classifying frames {start}:{start + len(frames)} of {source})")
        raise
