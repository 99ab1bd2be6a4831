"""Whole runs on a dask.distributed cluster: classification into the results file of
:func:`skspeckle.streaming.predict_file`, and simulation over many structures.

A run of 1e5-1e7 frames is classified offline on a cluster: at European XFEL a dask cluster
on SLURM (dask-jobqueue), elsewhere any dask scheduler. :func:`predict_dask` takes the frames
as a dask array (:func:`dask_frames` builds one from HDF5 / CXI files that the workers read
themselves; EXtra-data's ``get_dask_array`` or any other dask array works as well), ships
the fitted model once to every worker as a worker plugin, maps the classification over the
frame chunks, and commits each finished chunk to the same journal as ``predict_file``
(:class:`skspeckle.io.journal.Journal`), whatever the order the workers finish in. The
results are published by the same writer, in frame order, atomically, when every chunk is
done; an interrupted or failed run resumes from its finished chunks (``resume=True``), also
across ``predict_file`` and ``predict_dask`` for a single file.

:func:`make_speckle_patterns_dask` runs :func:`skspeckle.datasets.make_speckle_patterns` on
the cluster, through joblib's dask backend: one task per structure, the same random streams
as in the calling process.

Needs the ``dask`` extra: ``pip install 'skspeckle[dask]'``.
"""

import contextlib
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from skspeckle._run_control import (
    NONFINITE,
    Progress,
    RunInterrupted,
    Scorer,
    StopOnSignal,
    open_journal,
)
from skspeckle._run_control import model_sha256 as _model_sha256
from skspeckle._version import __version__
from skspeckle.io._atomic import check_output_path
from skspeckle.io.cxi import FrameReader
from skspeckle.io.journal import Journal, journal_path
from skspeckle.streaming import _finish, _keep_journal, _mask_value
from skspeckle.utils._optional import import_optional

__all__ = ["connect", "dask_frames", "make_speckle_patterns_dask", "predict_dask"]

_PURPOSE = "classifying runs on a dask cluster"


def _dask_array():
    return import_optional("dask.array", "dask", purpose=_PURPOSE)


def _distributed():
    return import_optional("distributed", "dask", purpose=_PURPOSE)


@contextlib.contextmanager
def connect(scheduler=None, *, n_workers=None, threads_per_worker=1):
    """A dask.distributed client: of a new local cluster, or of a running scheduler.

    Parameters
    ----------
    scheduler : str, path-like, distributed.Client or None, default=None
        None: the current default client when this process has one (e.g. a
        ``Client(SLURMCluster(...))`` made before; left open), else as ``"local"``.
        ``"local"``: start a :class:`distributed.LocalCluster` of worker processes listening
        on 127.0.0.1 only, without dashboard, closed on leaving the block (its workers keep
        glibc's default memory trimming: see :doc:`/cluster`). An
        address (``"tcp://host:8786"``, e.g. of a dask-jobqueue ``SLURMCluster`` or a
        ``dask scheduler`` started in a batch job): connect to it. A path to a scheduler file
        (JSON, as ``dask scheduler --scheduler-file`` or dask-mpi write it): connect to the
        scheduler it names. A ``Client``: used as is and left open.
    n_workers : int or None, default=None
        Worker processes of a local cluster (None: one per CPU core); only with ``"local"``.
    threads_per_worker : int, default=1
        Threads per local worker. One, since the network's own intra-op threads already use
        the core.

    Yields
    ------
    client : distributed.Client

    Raises
    ------
    ImportError
        Without the ``dask`` extra.
    ValueError
        If ``n_workers`` is given with anything but a local cluster, or ``scheduler`` is
        neither ``"local"``, an address with ``://``, an existing scheduler file nor a Client.
    OSError
        If the scheduler cannot be reached (distributed's timeout).

    Examples
    --------
    >>> from skspeckle.cluster import connect
    >>> with connect(n_workers=1) as client:  # doctest: +SKIP
    ...     print(len(client.nthreads()))
    1
    """
    distributed = _distributed()
    import dask

    if n_workers is not None and not (scheduler is None or scheduler == "local"):
        raise ValueError(
            f"n_workers ({n_workers}) only sizes a local cluster (scheduler='local'); the "
            f"workers of {scheduler!r} are started by its own cluster manager."
        )
    if scheduler is None and n_workers is None:
        with contextlib.suppress(ValueError):  # ValueError: no client in this process
            scheduler = distributed.get_client()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is None or scheduler == "local":
        with (
            # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (memory back to
            # the OS sooner); glibc then stops adapting its mmap threshold, every large
            # temporary array of the network is mapped afresh, and a worker embedded frames
            # 2-3x slower than the calling process (benchmarks/speed/dask_scaling.py).
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
            distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    if isinstance(scheduler, str) and "://" in scheduler:
        with distributed.Client(scheduler) as client:
            yield client
    elif Path(scheduler).is_file():
        with distributed.Client(scheduler_file=str(scheduler)) as client:
            yield client
    else:
        raise ValueError(
            f"scheduler must be 'local', a scheduler address such as 'tcp://host:8786', an "
            f"existing scheduler file (JSON) or a distributed.Client; got {scheduler!r}."
        )


class _FileFrames:
    """The frames of one HDF5 / CXI file as an array-like for :func:`dask.array.from_array`.

    It holds only the path: each read opens the file where it runs (on a worker), through
    :class:`~skspeckle.io.cxi.FrameReader`, so nothing unpicklable (an open h5py file)
    travels and a worker that restarts just opens it again. Its dask token is the file's
    identity (path, size, modification time, datasets), so the same file gives the same
    array name and a changed file another.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, path, data_paths, shape):
        self.path, self.data_paths, self.shape = str(path), tuple(data_paths), tuple(shape)
        stat = os.stat(self.path)
        self.size, self.mtime_ns = stat.st_size, stat.st_mtime_ns

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        with FrameReader(self.path, self.data_paths, mask=None) as reader:
            frames = reader[key[0]]
        return frames[(slice(None), *key[1:])] if len(key) > 1 else frames

    def __dask_tokenize__(self):
        return ("skspeckle-frames", self.path, self.size, self.mtime_ns, self.data_paths)


def _file_frames(paths, data_path, chunk_frames):
    """The dask array of the frames of ``paths`` (concatenated in order) and their identity
    for the journal's manifest."""
    da = _dask_array()
    arrays, identity = [], {"input_file": [], "input_size": [], "input_mtime_ns": []}
    counts = []
    for path in paths:
        path = Path(path)
        with FrameReader(path, data_path, mask=None, chunk_frames=chunk_frames) as reader:
            shape, data_paths, step = reader.shape, reader.data_paths, reader.chunk_frames
        if arrays and shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"{str(path)!r} has frames of shape {shape[1:]} but {str(paths[0])!r} has "
                f"{arrays[0].shape[1:]}; a run's files must hold frames of one shape."
            )
        source = _FileFrames(path.resolve(), data_paths, shape)
        arrays.append(
            da.from_array(
                source,
                chunks=(step, *shape[1:]),
                lock=False,
                meta=np.empty((0, 0, 0), np.float32),
                name=f"skspeckle-frames-{da.core.tokenize(source, step)}",
            )
        )
        identity["input_file"].append(source.path)
        identity["input_size"].append(source.size)
        identity["input_mtime_ns"].append(source.mtime_ns)
        counts.append(shape[0])
    if len(paths) == 1:  # the manifest of predict_file, so that either resumes the other
        identity = {key: value[0] for key, value in identity.items()}
    else:
        identity["input_n_frames"] = counts
    identity["data_path"] = list(data_paths)
    identity["chunk_frames"] = step
    frames = arrays[0] if len(arrays) == 1 else da.concatenate(arrays, axis=0)
    return frames, identity


def _as_paths(source):
    if isinstance(source, (str, os.PathLike)):
        return [source]
    if isinstance(source, (list, tuple)) and source:
        if all(isinstance(p, (str, os.PathLike)) for p in source):
            return list(source)
    return None


def dask_frames(source, data_path=None, *, chunk_frames=None):
    """The frames of HDF5 / CXI files as a lazy dask array, read by the workers themselves.

    Parameters
    ----------
    source : str, path-like, list of these, or h5py.Dataset
        One file, the files of a run (concatenated along the frames, in list order), or an
        open frame dataset (its file is opened again by each worker).
    data_path : str, sequence of str or None, default=None
        Frame dataset(s), as :class:`~skspeckle.io.cxi.FrameReader` (``entry_1/data_1/data``
        by default, panels concatenated along the rows); not with an h5py.Dataset.
    chunk_frames : int or None, default=None
        Frames per dask chunk; None means as many as fit in 64 MiB as float32, as
        ``FrameReader``. Chunks do not cross file boundaries.

    Returns
    -------
    frames : dask.array.Array of float32 of shape (n_frames, H, W)
        Counts (photons or ADU) as stored, converted to float32 on reading.

    Raises
    ------
    ImportError
        Without the ``dask`` extra.
    FileNotFoundError, OSError, KeyError
        If a file cannot be read or has no such dataset (see ``FrameReader``).
    ValueError
        If the files hold frames of different shapes, or ``data_path`` is given with a
        dataset.
    TypeError
        If ``source`` is none of the above.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skspeckle.cluster import dask_frames
    >>> from skspeckle.io import write_cxi
    >>> tmp = tempfile.TemporaryDirectory()
    >>> run = write_cxi(os.path.join(tmp.name, "run.cxi"), np.ones((5, 8, 8)))
    >>> frames = dask_frames([run, run], chunk_frames=2)
    >>> frames.shape, frames.chunks[0], float(frames.sum().compute(scheduler="sync"))
    ((10, 8, 8), (2, 2, 1, 2, 2, 1), 640.0)
    >>> tmp.cleanup()
    """
    return _frames_and_identity(source, data_path, chunk_frames)[0]


def _frames_and_identity(source, data_path, chunk_frames):
    h5py = sys.modules.get("h5py")
    if h5py is not None and isinstance(source, h5py.Dataset):
        if data_path is not None:
            raise ValueError(
                "data_path cannot be combined with an h5py.Dataset, which is the frame dataset "
                "itself; pass the file's path with data_path, or the dataset alone."
            )
        return _file_frames([source.file.filename], source.name, chunk_frames)
    paths = _as_paths(source)
    if paths is None:
        raise TypeError(
            "frames must be a path to an HDF5/CXI file, a list of paths, an h5py.Dataset or "
            f"a dask array; got {type(source).__name__}. For frames in memory, use "
            "pipeline.predict, or dask.array.from_array(frames) to spread them over a cluster."
        )
    return _file_frames(paths, data_path, chunk_frames)


def _dask_input(frames, chunk_frames):
    """``frames`` (a dask array, or an xarray.DataArray holding one, as EXtra-data's
    ``get_dask_array`` returns) chunked along the frames only, and its identity."""
    da = _dask_array()
    data = getattr(frames, "data", None) if not isinstance(frames, da.Array) else frames
    if not isinstance(data, da.Array):
        return None
    if data.ndim not in (2, 3):
        raise ValueError(
            f"frames must have shape (n_frames, H, W) or (n_frames, H * W); got a dask array of "
            f"shape {data.shape}."
        )
    if any(np.isnan(data.shape)) or any(np.isnan(c) for c in data.chunks[0]):
        raise ValueError(
            "frames has chunks of unknown size; call frames.compute_chunk_sizes() first."
        )
    rows = chunk_frames if chunk_frames is not None else data.chunks[0]
    data = data.rechunk({0: rows, **{axis: -1 for axis in range(1, data.ndim)}})
    return data, {
        "input_file": f"dask array {data.name}",
        "input_size": None,
        "input_mtime_ns": None,
        "data_path": [],
        "chunk_frames": chunk_frames,
    }


def _unwrap(model):
    """The fitted estimator inside dask-ml's ParallelPostFit (which maps it over dask blocks,
    as predict_dask does itself), so that a Pipeline's embedding runs once per chunk."""
    wrappers = sys.modules.get("dask_ml.wrappers")
    if wrappers is not None and isinstance(model, wrappers.ParallelPostFit):
        return model.estimator
    return model


def predict_dask(
    model,
    frames,
    output_path,
    *,
    client=None,
    n_workers=None,
    data_path=None,
    chunk_frames=None,
    embeddings=False,
    group="skspeckle_results",
    nonfinite="mask",
    resume=False,
    overwrite=False,
    model_sha256=None,
    operating_point=None,
    progress=False,
    verbose=0,
    log=print,
):
    """Classify every frame of a run on a dask cluster into a new results file.

    Writes exactly what :func:`skspeckle.streaming.predict_file` writes (the same datasets
    and attributes of ``group``, one row per frame, in frame order), through the same journal
    and writer: each finished chunk is committed to ``.<output name>.partial/`` as it
    arrives, in any order, and the output file appears, complete, only when all are done.

    How the work is spread: the fitted model is pickled once and registered as a worker
    plugin, so each worker receives it once (also a worker that joins or restarts later);
    each chunk of frames (a block of the dask array along the frames) is one task that reads
    its frames on the worker (for files, through :func:`dask_frames`) and returns labels,
    scores and, optionally, embeddings. At most two tasks per worker thread are in flight,
    so the cluster's memory stays bounded and an interrupt loses little. A worker that dies
    has its tasks rerun elsewhere by the scheduler; if a task fails, or the scheduler is lost,
    the finished chunks stay in the journal and ``resume=True`` continues from them.

    Each chunk is computed exactly as ``predict_file`` computes it, so with the same
    ``chunk_frames`` the results are identical, bit for bit, whatever the number of workers;
    and for a single file the journal is the same, so either function resumes the other's
    interrupted run.

    Parameters
    ----------
    model : fitted estimator
        A classifier, typically the Pipeline ``DetectorMask -> TripletEmbedder ->
        FewShotCentroidClassifier``, or dask-ml's ``ParallelPostFit`` wrapping one (its
        estimator is used). It must pickle (dask ships it to the workers).
    frames : str, path-like, list of these, h5py.Dataset or dask.array.Array
        The run: HDF5 / CXI file(s) or a dataset (see :func:`dask_frames`), or any dask array
        of shape ``(n_frames, H, W)`` or ``(n_frames, H * W)`` (e.g. EXtra-data's
        ``run.get_dask_array(source, key)``, an ``xarray.DataArray`` whose ``.data`` is used).
        A dask array is rechunked along the frames only; its chunks along the frames are kept
        unless ``chunk_frames`` is given.
    output_path : str or path-like
        New results file (HDF5).
    client : distributed.Client, str, path-like or None, default=None
        The cluster, as :func:`connect` takes it: a Client; ``"local"`` (a LocalCluster on
        127.0.0.1 for this call); an address ``"tcp://host:8786"``; a scheduler file. None:
        the current default client when there is one (e.g. ``Client(SLURMCluster(...))``
        made before), else a LocalCluster for this call.
    n_workers : int or None, default=None
        Worker processes of a LocalCluster started by this call (None: one per core).
    data_path, chunk_frames
        As :func:`dask_frames` (``data_path`` only for files). With ``resume`` and no
        ``chunk_frames``, the interrupted run's chunk size.
    embeddings, group, nonfinite, resume, overwrite, model_sha256, verbose, log
        As :func:`~skspeckle.streaming.predict_file`. The progress lines start with
        ``predict_dask:``.
    operating_point, progress
        As :func:`~skspeckle.streaming.predict_file`: the veto is applied when the results
        are written; the bar counts the frames as their chunks come back.

    Returns
    -------
    summary : dict
        The keys of ``predict_file``'s summary, plus ``n_workers`` (workers when the run
        started) and ``model_shipping_seconds`` (time to register the model on every
        worker, unpickling included).

    Raises
    ------
    ImportError
        Without the ``dask`` extra.
    RunInterrupted
        After SIGTERM or SIGINT: the chunks finished so far are committed, the tasks in
        flight are cancelled, the journal is kept.
    TypeError
        If ``frames`` is of an unsupported type (e.g. a numpy array) or the model has no
        ``predict``.
    ValueError, FileExistsError, BlockingIOError, OSError, KeyError
        As ``predict_file`` (bad options, an existing output or unfinished journal, another
        writer, unreadable input, a frame with non-finite pixels with
        ``nonfinite="error"``, a model that rejects the frames); also frames of the wrong
        number of dimensions or with chunks of unknown size. The exception raised in a task is
        re-raised here, with a note naming the frames and that the finished chunks are kept.
    distributed.client.FutureCancelledError, distributed.scheduler.KilledWorker
        If the scheduler cancels the run, or a task's workers die repeatedly (dask's
        ``distributed.scheduler.allowed-failures``).
    sklearn.exceptions.NotFittedError
        If the model is not fitted.

    See Also
    --------
    skspeckle.streaming.predict_file : The same on one machine, without dask.
    """
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}.")
    model = _unwrap(model)
    scorer = Scorer(model, embeddings)  # checks the model before anything starts
    output_path = Path(output_path)
    check_output_path(output_path, overwrite)
    journal = Journal(journal_path(output_path, group))
    if resume and chunk_frames is None and journal.exists():
        # Same chunks as the interrupted run, so that the results are bit-identical.
        try:
            old = json.loads((journal.path / "manifest.json").read_text())
            chunk_frames = int(old["chunk_frames"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # open_journal reports an unreadable manifest; a dask array keeps its chunks
    given = _dask_input(frames, chunk_frames)
    if given is None:
        given = _frames_and_identity(frames, data_path, chunk_frames)
        inputs = given[1]["input_file"]
        for name in [inputs] if isinstance(inputs, str) else inputs:
            if output_path.exists() and os.path.samefile(output_path, name):
                raise ValueError(
                    f"output_path {str(output_path)!r} is an input file: the raw frames would "
                    "be replaced. Choose a new output file."
                )
    elif data_path is not None:
        raise ValueError("data_path is only for files; a dask array is already the frames.")
    darr, identity = given
    n = int(darr.shape[0])
    if not n:
        raise ValueError(f"The run {identity['input_file']!r} has no frames.")
    manifest = {
        **identity,
        "model_sha256": model_sha256 or _model_sha256(model),
        "n_frames": n,
        "frame_shape": list(darr.shape[1:]),
        "group": group,
        "embeddings": bool(embeddings),
        "nonfinite": nonfinite,
        "skspeckle_version": __version__,
        "started": datetime.now(timezone.utc).isoformat(),
    }
    # The cluster first: a scheduler that cannot be reached leaves no journal behind.
    with connect(client, n_workers=n_workers) as dask_client:
        n_workers_run = len(dask_client.scheduler_info()["workers"])
        journal = open_journal(output_path, group, manifest, resume, overwrite, log)
        resumed = journal.n_finished()
        try:
            with StopOnSignal() as stop:
                reporting = (verbose, log, progress)
                args = (model, darr, journal, manifest, _mask_value(model), stop, reporting)
                seconds, shipping = _run(dask_client, *args)
        except BaseException as exc:
            _keep_journal(journal, exc)
            raise
    summary = _finish(
        model,
        scorer,
        journal,
        manifest,
        output_path,
        overwrite,
        False,
        seconds,
        resumed,
        extra_attrs={"n_workers": n_workers_run},
        operating_point=operating_point,
    )
    return {
        **summary,
        "n_workers": n_workers_run,
        "model_shipping_seconds": shipping,
    }


def _blocks(darr):
    """``(start, block)`` of each chunk of ``darr`` along the frames: ``block`` a Delayed
    holding only the part of the graph that computes it. (Delayed objects from
    ``darr.to_delayed()`` each carry the whole graph, which the client would cull again for
    every submitted chunk: quadratic in the chunks of a long run.)"""
    from dask.core import flatten
    from dask.delayed import Delayed
    from dask.optimization import cull

    keys = list(flatten(darr.__dask_keys__()))
    graph = dict(darr.__dask_optimize__(darr.__dask_graph__(), keys))
    starts = np.concatenate([[0], np.cumsum(darr.chunks[0])[:-1]]).astype(int).tolist()
    for start, key in zip(starts, keys):
        yield start, Delayed(key, cull(graph, [key])[0])


@contextlib.contextmanager
def _model_on_workers(client, model, embeddings):
    """Register the model as a worker plugin for the run; yields the plugin's name."""
    import uuid

    from skspeckle._dask_worker import ModelPlugin

    name = f"skspeckle-model-{uuid.uuid4().hex[:12]}"
    client.register_plugin(ModelPlugin(model, embeddings), name=name)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):  # a lost scheduler must not hide the real error
            client.unregister_worker_plugin(name)


def _run(client, model, darr, journal, manifest, mask_value, stop, reporting):
    """Classify and commit every chunk not yet in the journal, at most two tasks per worker
    thread in flight; returns the seconds taken and the model-shipping seconds."""
    import dask

    distributed = _distributed()
    from skspeckle._dask_worker import classify_block

    n = manifest["n_frames"]
    todo = (item for item in _blocks(darr) if item[0] not in journal.finished)
    source = manifest["input_file"]
    verbose, log, progress = reporting
    progress = Progress(n, journal.n_finished(), verbose, log, progress, name="predict_dask")
    t_ship = time.perf_counter()
    futures = {}
    try:
        with _model_on_workers(client, model, manifest["embeddings"]) as plugin:
            shipping = time.perf_counter() - t_ship
            done = distributed.as_completed(with_results=True)  # results in the same call
            window, checked = 2, -np.inf

            def submit():
                nonlocal window, checked
                if time.perf_counter() - checked > 1.0:  # an adaptive cluster grows and shrinks
                    window = max(2, 2 * sum(client.nthreads().values()))
                    checked = time.perf_counter()
                while len(futures) < window:
                    start, block = next(todo, (None, None))
                    if block is None:
                        return
                    task = dask.delayed(classify_block)(
                        block, start, plugin, manifest["nonfinite"], mask_value, source
                    )
                    future = client.compute(task)
                    futures[future] = start
                    done.add(future)

            submit()
            for future, arrays in done:  # a task's exception is raised here
                journal.commit(futures.pop(future), arrays)
                progress.chunk_done(journal.n_finished())
                if stop.signum is not None and journal.n_finished() < n:
                    raise RunInterrupted(stop.signum, journal.path, journal.n_finished(), n)
                submit()
    finally:
        if futures:
            client.cancel(list(futures))
        progress.close()
    return time.perf_counter() - progress.t0, shipping


def make_speckle_patterns_dask(structures=None, *, client=None, n_workers=None, **kwargs):
    """:func:`skspeckle.datasets.make_speckle_patterns` with its structures spread over a dask
    cluster.

    The simulator's own parallel loop (joblib) runs on the cluster through joblib's dask
    backend: one task per structure, on a worker that reads the structure's Fourier amplitude
    from the cache (``cache_dir``, on a file system the workers share) or computes it.
    Every structure, and every block of patterns within it, has its own random stream derived
    from ``random_state``, so the output is identical to the in-process call, whatever the
    number of workers. The workers left over when there are fewer structures than worker
    threads run a structure's blocks as threads (as ``make_speckle_patterns(n_jobs=...)``
    does); with a single structure, the simulation runs in the calling process.

    Parameters
    ----------
    structures
        As ``make_speckle_patterns``.
    client, n_workers
        The cluster, as :func:`predict_dask` (None: the current default client, else a
        LocalCluster for this call).
    **kwargs
        The other arguments of ``make_speckle_patterns`` (``n_per_class``, ``classes``,
        ``detector``, ``random_state``, ``cache_dir``, ...), except ``n_jobs``, which the
        cluster's size sets.

    Returns
    -------
    X, y, groups[, n_particles]
        As ``make_speckle_patterns``, gathered in the calling process.

    Raises
    ------
    ImportError
        Without the ``dask`` extra.
    TypeError
        If ``n_jobs`` is given.
    ValueError, FileNotFoundError
        As ``make_speckle_patterns``.
    """
    if "n_jobs" in kwargs:
        raise TypeError(
            "n_jobs is set by the cluster (one task per structure); leave it out, or call "
            "make_speckle_patterns(n_jobs=...) to simulate on this machine."
        )
    import joblib

    from skspeckle.datasets import make_speckle_patterns

    _distributed()
    with connect(client, n_workers=n_workers) as dask_client, dask_client.as_current():
        with joblib.parallel_config(backend="dask"):
            return make_speckle_patterns(structures, n_jobs=-1, **kwargs)
