"""A self-contained HTML report of a classified run (a results file of
:func:`skspeckle.streaming.predict_file` / ``skspeckle classify``).

One page, no external assets (figures are embedded as base64 PNG), so that it can be mailed,
attached to a logbook or opened on a machine without network: counts per predicted class,
the veto (``accepted``) when the run had a threshold, histograms of the class probabilities,
the class fractions (hit rate) along the run, example frames per class when the input file
recorded in the results can still be read (and, when that file has labels, the accuracy, the
confusion matrix and the veto's precision and recall against them), and the model's
provenance (the results group's attributes).
"""

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np

from skspeckle.io._atomic import check_output_path, temporary_sibling
from skspeckle.io._hdf5 import open_h5, read_labels
from skspeckle.utils._optional import import_optional

__all__ = ["write_report"]

_COLUMNS = ("predicted_label", "probabilities", "classes", "valid", "accepted")
_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right}
img{max-width:100%}pre{white-space:pre-wrap;margin:0;font-size:85%}.note{color:#666}"""


def _figure(**kw):
    # A Figure without pyplot: no global state, nothing to close, any backend.
    figure = import_optional("matplotlib.figure", "plot", purpose="skspeckle report")
    return figure.Figure(**kw)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _read(results, group):
    with open_h5(results) as h5:
        if group not in h5:
            raise KeyError(
                f"{str(results)!r} has no results group {group!r} (groups: "
                f"{sorted(h5.keys())}); pass the group name (--group)."
            )
        g = h5[group]
        if "predicted_label" not in g:
            raise KeyError(f"{str(results)!r}:{group} has no predicted_label dataset.")
        # The columns the report shows (not the embeddings, which can be large).
        names = [n for n in _COLUMNS if n in g]
        out = {name: read_labels(g[name]) if g[name].ndim == 1 else g[name][()] for name in names}
        attrs = {
            k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v)
            for k, v in g.attrs.items()
        }
    return out, attrs


def _table(rows, header=None):
    head = (
        ""
        if header is None
        else "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    )
    body = "".join(
        "<tr>"
        + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _provenance(attrs):
    rows = []
    for key in sorted(attrs):
        value = attrs[key]
        if key == "model_params":
            try:
                value = json.dumps(json.loads(value), indent=1, sort_keys=True)
            except (TypeError, ValueError):
                pass
        if isinstance(value, np.ndarray):
            value = value.tolist()
        rows.append([html.escape(key), f"<pre>{html.escape(str(value))}</pre>"])
    return _table(rows, ["attribute", "value"])


def _examples(data, attrs, classes, n_examples):
    """Gallery of the most probable frames of each predicted class, or a note why not; and
    the input file's labels (``entry_1/labels/y``) when it has them, else None."""
    from skspeckle.io.cxi import FrameReader
    from skspeckle.plot import FrameGalleryDisplay

    path = attrs.get("input_file")
    if not path or not os.path.exists(path):
        where = html.escape(str(path))
        return f'<p class="note">Input frames not available ({where}): no examples.</p>', None
    labels, valid = (
        data["predicted_label"],
        data.get("valid", np.ones(len(data["predicted_label"]), bool)),
    )
    proba = data.get("probabilities")
    picked = []
    for j, c in enumerate(classes):
        members = np.flatnonzero(valid & (labels == c))
        if proba is not None:
            members = members[np.argsort(-proba[members, j], kind="stable")]
        picked.extend(members[:n_examples])
    if not picked:
        return '<p class="note">No valid frames: no examples.</p>', None
    picked = np.asarray(picked)
    # predict_file records the frame dataset(s) as a list (an array of strings in HDF5).
    data_path = attrs.get("data_path")
    if isinstance(data_path, str) and data_path.startswith("["):
        data_path = json.loads(data_path)
    data_path = [str(p) for p in np.atleast_1d(data_path)] if data_path is not None else None
    with FrameReader(path, data_path, mask=None) as reader:
        if len(reader) != len(labels):
            return (
                f'<p class="note">{html.escape(path)} now has {len(reader)} frames, the results '
                f"{len(labels)}: no examples.</p>",
                None,
            )
        frames = reader[picked]
        y_true = reader.y
    titles = [
        f"#{i}" + ("" if proba is None else f" p={proba[i, list(classes).index(labels[i])]:.2f}")
        for i in picked
    ]
    n_rows = len(set(labels[picked].tolist()))
    fig = _figure(figsize=(1.7 * n_examples, 1.8 * n_rows))
    FrameGalleryDisplay(frames, labels[picked], titles=titles).plot(figure=fig)
    return (
        f"<p>The {n_examples} most probable frames of each predicted class, "
        f"log<sub>10</sub>(1 + counts), from {html.escape(path)}.</p>" + _png(fig)
    ), y_true


def _against_labels(y_true, data, attrs, valid):
    """Accuracy, confusion matrix and the veto's precision and recall against the input
    file's labels (simulated runs, or labelled real ones)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    y_true = np.asarray(y_true).astype(str)[valid]
    y_pred = np.asarray(data["predicted_label"]).astype(str)[valid]
    text = (
        f"<p>The input file has labels (entry_1/labels/y): accuracy "
        f"{np.mean(y_true == y_pred):.3f} on {len(y_true)} valid frames."
    )
    if "accepted" in data:
        positive = str(attrs.get("threshold_positive_class"))
        accepted = np.asarray(data["accepted"], bool)[valid]
        truth = y_true == positive
        if accepted.any() and truth.any():
            text += (
                f" Veto: precision {np.mean(truth[accepted]):.3f}, recall "
                f"{np.sum(truth & accepted) / truth.sum():.3f} for {html.escape(positive)}."
            )
    fig = _figure(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, ax=fig.subplots(), colorbar=False, xticks_rotation=30
    )
    return "<h2>Against the input's labels</h2>" + text + "</p>" + _png(fig)


def write_report(results, output, *, group="skspeckle_results", n_examples=6, overwrite=False):
    """Write the HTML report of a results file.

    Parameters
    ----------
    results : str or path-like
        HDF5 file written by :func:`skspeckle.streaming.predict_file`.
    output : str or path-like
        The new HTML file (written to a temporary file, then renamed).
    group : str, default="skspeckle_results"
        The results group.
    n_examples : int, default=6
        Example frames per predicted class (read from the input file recorded in the
        results, when it exists and has as many frames).
    overwrite : bool, default=False
        Replace an existing ``output``.

    Returns
    -------
    path : pathlib.Path
        The report.

    Raises
    ------
    FileNotFoundError, OSError
        If ``results`` cannot be read.
    KeyError
        If it has no ``group`` or no ``predicted_label`` in it.
    FileExistsError
        If ``output`` exists and ``overwrite`` is False.
    ImportError
        Without matplotlib (the ``plot`` extra).
    """
    from skspeckle.plot import ClassFractionDisplay

    output = check_output_path(output, overwrite)
    data, attrs = _read(results, group)
    labels = data["predicted_label"]
    n = len(labels)
    valid = np.asarray(data.get("valid", np.ones(n, bool)), bool)
    classes = (
        [str(c) for c in data["classes"]]
        if "classes" in data
        else sorted(set(labels[valid].tolist()))
    )
    counts = [int(np.sum(valid & (labels == c))) for c in classes]
    n_valid = int(valid.sum())
    rows = [
        [html.escape(c), f'<td class="n">{k}</td>', f'<td class="n">{k / max(n_valid, 1):.1%}</td>']
        for c, k in zip(classes, counts)
    ]
    rows.append(
        ["<b>all valid</b>", f'<td class="n">{n_valid}</td>', f'<td class="n">of {n} frames</td>']
    )
    parts = [f"<h2>Counts per predicted class</h2>{_table(rows, ['class', 'frames', 'fraction'])}"]
    if "accepted" in data:
        k = int(np.sum(data["accepted"]))
        source = html.escape(str(attrs.get("threshold_source", "?")))
        parts.append(
            f"<p><b>Veto</b>: {k} frames ({k / max(n_valid, 1):.1%}) accepted as "
            f"{html.escape(str(attrs.get('threshold_positive_class')))} with probability "
            f"&ge; {attrs.get('threshold', float('nan')):.4g} (threshold from {source}"
            + (
                f"; precision {attrs['threshold_precision']:.3f}, recall "
                f"{attrs['threshold_recall']:.3f} on the validation frames"
                if "threshold_precision" in attrs
                else ""
            )
            + ").</p>"
        )
    if "probabilities" in data and n_valid:
        proba = data["probabilities"]
        fig = _figure(figsize=(3.6 * len(classes), 2.8), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(classes), squeeze=False)[0])
        for j, (c, ax) in enumerate(zip(classes, axes)):
            p = proba[valid, j]
            ax.hist(p, bins=np.linspace(0, 1, 26), color="0.7", label="all frames")
            ax.hist(
                p[labels[valid] == c],
                bins=np.linspace(0, 1, 26),
                histtype="step",
                lw=2,
                label=f"predicted {c}",
            )
            if "threshold" in attrs and str(attrs.get("threshold_positive_class")) == c:
                ax.axvline(attrs["threshold"], color="red", ls="--", label="threshold")
            ax.set(xlabel=f"P({c})", ylabel="frames")
            ax.legend(fontsize=7)
        parts.append("<h2>Class probabilities</h2>" + _png(fig))
    if n_valid:
        fig = _figure(figsize=(9, 3))
        # Windows of at least 20 frames, so that a fraction is more than one frame's label.
        ClassFractionDisplay.from_predictions(
            labels,
            valid=valid,
            classes=classes,
            n_windows=max(1, min(50, n_valid // 20)),
            ax=fig.subplots(),
        )
        parts.append(
            "<h2>Class fractions along the run</h2><p>Fraction of the valid frames predicted as "
            "each class, in consecutive windows of equal frame count.</p>" + _png(fig)
        )
    examples, y_true = _examples(data, attrs, classes, n_examples)
    if y_true is not None and n_valid:
        parts.append(_against_labels(y_true, data, attrs, valid))
    parts.append("<h2>Example frames</h2>" + examples)
    parts.append("<h2>Provenance</h2>" + _provenance(attrs))
    title = f"skspeckle report: {Path(str(attrs.get('input_file', results))).name}"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Results: {html.escape(str(Path(results).resolve()))}, group {html.escape(group)}; "
        f"{n} frames.</p>{''.join(parts)}</body></html>\n"
    )
    tmp = temporary_sibling(output)
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return output
