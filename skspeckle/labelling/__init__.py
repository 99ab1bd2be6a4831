"""The labelling and review web page of ``skspeckle label`` (the ``web`` extra).

- :class:`LabelSession`: one run, its labels, embeddings, predictions and model.
- :class:`LabelStore`: the label file, saved atomically after every change and locked.
- :func:`create_app`, :func:`serve`: the Starlette app and its uvicorn server on 127.0.0.1.
- :func:`frame_png`: a frame as a PNG on a log colour scale with the detector mask.
"""

from skspeckle.utils._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "LabelFileLocked": "skspeckle.labelling.labels",
        "LabelSession": "skspeckle.labelling.session",
        "LabelStore": "skspeckle.labelling.labels",
        "create_app": "skspeckle.labelling.app",
        "frame_png": "skspeckle.labelling.images",
        "open_run": "skspeckle.labelling.session",
        "serve": "skspeckle.labelling.app",
    },
)
