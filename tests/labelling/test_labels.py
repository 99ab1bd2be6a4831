"""The label file: atomic saves after every change, the session lock, per-tab undo, formats."""

import csv
import json
import subprocess
import sys

import pytest

from skspeckle.io._atomic import stale_temporaries
from skspeckle.labelling.labels import REFERENCE_CODES, LabelFileLocked, LabelStore


def test_every_change_is_on_disk_before_set_returns_and_reloads(tmp_path):
    path = tmp_path / "labels.csv"
    store = LabelStore(path, "run.cxi", 10)
    assert not path.exists()  # nothing written before the first label
    store.set(3, "single-hit", tab="a")
    store.set(7, "no-hit", tab="a")
    store.set(3, "multi-hit", tab="b")  # a relabel replaces, keyed by file and frame
    rows = list(csv.DictReader(path.open()))
    assert [(r["frame_index"], r["label"], r["reference_code"]) for r in rows] == [
        ("3", "multi-hit", "multi"),
        ("7", "no-hit", "no-hit"),
    ]
    assert not stale_temporaries(path)
    store.close()
    again = LabelStore(path, "run.cxi", 10)
    assert again.labels == {3: "multi-hit", 7: "no-hit"}
    again.close()


def test_undo_is_per_tab_and_restores_the_previous_label(tmp_path):
    store = LabelStore(tmp_path / "l.csv", "run", 5)
    store.set(0, "single-hit", tab="a")
    store.set(1, "multi-hit", tab="b")
    store.set(0, "needs-help", tab="a")
    assert store.undo("b") == (1, 4)  # b's label goes, a's stay
    assert store.labels == {0: "needs-help"}
    assert store.undo("a")[0] == 0 and store.labels == {0: "single-hit"}
    assert store.undo("a")[0] == 0 and store.labels == {}
    assert store.undo("a") == (None, store.revision)
    store.close()


def test_a_second_session_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    first = LabelStore(path, "run", 5)
    # Another process, as a second `skspeckle label` would be.
    code = (
        "from skspeckle.labelling.labels import LabelStore, LabelFileLocked\n"
        f"try:\n    LabelStore({str(path)!r}, 'run', 5)\n"
        "except LabelFileLocked as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "refused:" in out.stdout and "another labelling session" in out.stdout, out.stderr
    with pytest.raises(LabelFileLocked, match="another --labels file"):
        LabelStore(path, "run", 5)
    first.close()
    LabelStore(path, "run", 5).close()  # released with the first session


def test_json_keeps_other_runs_and_reads_reference_codes(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(
        json.dumps(
            {
                "labels": [
                    {"file": "other.cxi", "frame_index": 0, "label": "single"},
                    {"file": "run.cxi", "frame_index": 2, "label": "background"},
                    {"file": "run.cxi", "frame_index": 4, "label": "multi"},
                ]
            }
        )
    )
    store = LabelStore(path, "run.cxi", 5)
    assert store.labels == {2: "no-hit", 4: "multi-hit"}
    store.set(1, "non-sample-hit")
    payload = json.loads(path.read_text())
    assert payload["reference_codes"] == REFERENCE_CODES
    assert [(r["file"], r["frame_index"], r["label"]) for r in payload["labels"]] == [
        ("other.cxi", 0, "single"),  # another run's rows are written back untouched
        ("run.cxi", 1, "non-sample-hit"),
        ("run.cxi", 2, "no-hit"),
        ("run.cxi", 4, "multi-hit"),
    ]
    assert store.counts()["no-hit"] == 1 and sum(store.counts().values()) == 3
    store.close()


def test_bad_labels_indices_and_files_are_refused_clearly(tmp_path):
    store = LabelStore(tmp_path / "l.csv", "run", 3)
    with pytest.raises(ValueError, match="Unknown label 'singel'"):
        store.set(0, "singel")
    with pytest.raises(IndexError, match="outside the run"):
        store.set(3, "single-hit")
    store.close()
    with pytest.raises(ValueError, match="must end in .csv or .json"):
        LabelStore(tmp_path / "l.txt", "run", 3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LabelStore(tmp_path / "missing" / "l.csv", "run", 3)
    (tmp_path / "big.csv").write_text("file,frame_index,label\nrun,9,single-hit\n")
    with pytest.raises(ValueError, match="labels frame 9"):
        LabelStore(tmp_path / "big.csv", "run", 3)
